#!/usr/bin/env bash
# docs/policy-distribution.md end to end: the organization policy signed, fetched over HTTPS from a real nginx
# (TLS with a CA this test makes, ETags), cached atomically, and never lost.
#
#     bash tests/e2e/policy_sync_test.sh build/imagegate
#
# No dockerd is involved: decisions are asked on the plugin socket as dockerd would ask them,
# and the daemon's state is read with `imagegate status --json` on its admin socket.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v nginx >/dev/null || e2e_fatal "nginx is missing (scripts/deps.sh installs nginx-light)"
command -v openssl >/dev/null || e2e_fatal "openssl is missing"

W="$E2E_TMP/sync"
mkdir -p "$W/www" "$W/tls" "$W/bundles" "$W/nginx/tmp"
NGINX_PORT=$(free_port)
POLICY_URL="https://127.0.0.1:$NGINX_PORT/bundle"
NGINX_PID=""
HANG_PID=""

# ---------------------------------------------------------------------------------------
# Certificates, keys, policies, bundles

# make_ca NAME: a CA and a server certificate for 127.0.0.1 signed by it, in $W/tls/NAME-*.
make_ca() {
    local n=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=imagegate e2e $n CA" -keyout "$W/tls/$n-ca.key" -out "$W/tls/$n-ca.pem" 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$W/tls/$n-server.key" -out "$W/tls/$n-server.csr" 2>/dev/null &&
        openssl x509 -req -in "$W/tls/$n-server.csr" -CA "$W/tls/$n-ca.pem" -CAkey "$W/tls/$n-ca.key" \
            -CAcreateserial -days 2 -out "$W/tls/$n-server.pem" \
            -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') \
            2>/dev/null || e2e_fatal "openssl could not make the $n certificates"
}
make_ca good
make_ca rogue
"$IMAGEGATE" policy keygen --out "$W/keys" >/dev/null || e2e_fatal "policy keygen failed"
"$IMAGEGATE" policy keygen --out "$W/otherkeys" >/dev/null || e2e_fatal "policy keygen failed"
PUB="$W/keys/imagegate.pub"

# make_policy SERIAL [ORG] [EXTRA_ALLOWLIST_ENTRIES]: a policy on stdout. Community images are
# restricted; docker.io/someone/tool is allowlisted when SERIAL is even, so the decision for
# it tells which policy answered.
make_policy() {
    local serial=$1 org=${2:-acme} extra=${3:-0}
    python3 - "$serial" "$org" "$extra" <<'EOF'
import json, sys
serial, org, extra = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
allow = ["docker.io/someone/tool"] if serial % 2 == 0 else []
allow += ["docker.io/bulk-%d/repository-%06d" % (i % 50, i) for i in range(extra)]
print(json.dumps({"organization": org, "serial": serial, "defaultRoles": ["Manager"],
                  "imageAccess": {"enabled": True, "organizationNamespaces": [org],
                                  "repositoryAllowlist": allow}}, indent=1))
EOF
}

# bundle SERIAL [ORG] [KEYDIR] [EXTRA]: signs that policy; prints the bundle's path.
bundle() {
    local serial=$1 org=${2:-acme} keys=${3:-$W/keys} extra=${4:-0}
    local out="$W/bundles/$org-$serial-$(basename "$keys")-$extra.bundle"
    if [[ ! -f $out ]]; then
        make_policy "$serial" "$org" "$extra" >"$W/bundles/policy.json"
        "$IMAGEGATE" policy sign --key "$keys/imagegate.key" "$W/bundles/policy.json" --out "$out" 2>/dev/null ||
            e2e_fatal "policy sign failed for serial $serial"
    fi
    echo "$out"
}

# publish FILE: what nginx serves at /bundle from now on (replaced atomically).
publish() {
    cp "$1" "$W/www/bundle.new" && mv -f "$W/www/bundle.new" "$W/www/bundle"
}

# ---------------------------------------------------------------------------------------
# The HTTPS server

# start_nginx [CERT_NAME]: nginx on 127.0.0.1:$NGINX_PORT with the certificate of CERT_NAME
# (default good), serving $W/www; /bundle answers 500 while $W/www/fail500 exists.
start_nginx() {
    local cert=${1:-good}
    cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 256; }
http {
    log_format e2e '\$request_uri \$status \$body_bytes_sent "\$http_if_none_match"';
    access_log $W/nginx/access.log e2e;
    client_body_temp_path $W/nginx/tmp/body;
    proxy_temp_path $W/nginx/tmp/proxy;
    fastcgi_temp_path $W/nginx/tmp/fastcgi;
    uwsgi_temp_path $W/nginx/tmp/uwsgi;
    scgi_temp_path $W/nginx/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $W/tls/$cert-server.pem;
        ssl_certificate_key $W/tls/$cert-server.key;
        root $W/www;
        location = /bundle {
            if (-f $W/www/fail500) { return 500; }
        }
    }
}
EOF
    nginx -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" >>"$W/nginx/stdout.log" 2>&1 &
    NGINX_PID=$!
    wait_until 10 curl -fsS -o /dev/null --cacert "$W/tls/$cert-ca.pem" "https://127.0.0.1:$NGINX_PORT/" ||
        wait_until 1 curl -sS -o /dev/null --cacert "$W/tls/$cert-ca.pem" "https://127.0.0.1:$NGINX_PORT/bundle" ||
        { tail -5 "$W/nginx/error.log" >&2; e2e_fatal "nginx did not start"; }
}
stop_nginx() {
    [[ -n $NGINX_PID ]] && stop_pid "$NGINX_PID" 5
    NGINX_PID=""
}

# start_hanging_server tcp|tls: something on the port that accepts connections and then
# never answers: at the TCP level (no TLS handshake), or after the TLS handshake (no HTTP).
start_hanging_server() {
    python3 - "$1" "$NGINX_PORT" "$W/tls/good-server.pem" "$W/tls/good-server.key" <<'EOF' &
import socket, ssl, sys
mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(16)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain(cert, key)
held = []
while True:
    c, _ = s.accept()
    if mode == "tls":
        try: c = context.wrap_socket(c, server_side=True)
        except Exception: pass
    held.append(c)
EOF
    HANG_PID=$!
    wait_until 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $NGINX_PORT), 1)"
}
stop_hanging_server() {
    [[ -n $HANG_PID ]] && stop_pid "$HANG_PID" 5
    HANG_PID=""
}

# ---------------------------------------------------------------------------------------
# imagegate

# write_config FILE CACHE_DIR [MAX_AGE]: a configuration with policyUrl.
write_config() {
    local out=$1 cache=$2 max_age=${3:-604800}
    make_config "$out.base"
    jq --arg url "$POLICY_URL" --arg pub "$PUB" --arg ca "$W/tls/good-ca.pem" --arg cache "$cache" \
        --argjson maxage "$max_age" \
        '. + {policyUrl: $url, publicKey: $pub, caFile: $ca, cacheDir: $cache, refreshSeconds: 3600,
              maxAgeSeconds: $maxage}' "$out.base" >"$out" || e2e_fatal "cannot write $out"
}

status_json() { "$IMAGEGATE" status --config "$IG_CONFIG" --json 2>/dev/null; }
status_field() { status_json | jq -r "$1"; }
serial_is() { [[ $(status_field '.serial') == "$1" ]]; }

# sync_now: SIGHUP (a fetch now), then waits for that fetch's result in `status`.
sync_now() {
    sleep 1.05 # `lastSync.time` has one-second resolution: the next one is surely later
    local t0
    t0=$(date +%s)
    kill -HUP "$IG_PID"
    wait_until 45 synced_since "$t0" || e2e_log "no sync result in status within 45 s of SIGHUP"
}
synced_since() {
    local t
    t=$(status_field '.lastSync.time // empty')
    [[ -n $t ]] && (($(date -d "$t" +%s) >= $1))
}

# (as the docker CLI sends a pull: Content-Length 0 and, from the 20.10 CLI, Content-Type text/plain)
PULL_TOOL='{"User":"","UserAuthNMethod":"","RequestMethod":"POST","RequestUri":"/v1.43/images/create?fromImage=someone%2Ftool&tag=latest","RequestHeaders":{"Content-Length":"0","Content-Type":"text/plain"}}'

# decision: what the running plugin answers for `docker pull someone/tool`:
# "allow", or "deny: MESSAGE".
decision() {
    local reply
    reply=$(plugin_request /AuthZPlugin.AuthZReq "$PULL_TOOL") || { echo "error: no reply"; return; }
    jq -r 'if .Allow then "allow" else "deny: \(.Msg // .Err)" end' <<<"$reply" 2>/dev/null || echo "error: $reply"
}

# expect_status DESC JQ_FILTER: `status --json` satisfies the filter (jq -e).
expect_status() {
    local desc=$1 filter=$2
    status_json >"$E2E_TMP/status.json"
    # (jq -e succeeds on empty input: an empty answer must fail here.)
    if [[ -s $E2E_TMP/status.json ]] && jq -e "$filter" "$E2E_TMP/status.json" >/dev/null 2>&1; then
        pass "$desc"
    else
        fail "$desc" "filter: $filter" "status: $(cat "$E2E_TMP/status.json")"
    fi
}

# expect_decision DESC WANT: the plugin's decision for pulling someone/tool starts with WANT.
expect_decision() {
    local desc=$1 want=$2 got
    got=$(decision)
    E2E_LAST_OUT="$E2E_TMP/last.out" E2E_LAST_ERR="$E2E_TMP/last.err"
    echo "$got" >"$E2E_LAST_OUT"
    : >"$E2E_LAST_ERR"
    if [[ $got == "$want"* ]]; then pass "$desc"; else fail "$desc" "want: $want..." "got:  $got"; fi
}

# expect_refused WHY SUBSTRING: after sync_now, the new policy was refused with a reason
# containing SUBSTRING, and serial $KEPT still decides.
expect_refused() {
    local why=$1 want=$2
    sync_now
    expect_status "$why: refused, status says why [\"$want\"]" \
        "(.lastSync.ok == false) and (.lastSync.result | contains(\"$want\"))"
    expect_status "$why: serial $KEPT still in force" ".serial == $KEPT"
    expect_decision "$why: serial $KEPT still decides" "deny: imagegate: pull of docker.io/someone/tool:latest denied"
    check "$why: the daemon's log names the reason" grep -qF -- "${want//\\\"/\"}" "$IG_LOG"
}

cache_serial() {
    "$IMAGEGATE" policy verify --public-key "$PUB" "$1/policy.bundle" 2>/dev/null | awk '$1 == "serial" {print $2}'
}
file_mode() { stat -c %a "$1"; }

# section TITLE, with the seconds the suite has run so far on stderr.
section() { e2e_log "at ${SECONDS}s"; printf '\n# %s\n' "$*"; }

# =======================================================================================
section "first sync from an HTTPS server"
start_nginx good
publish "$(bundle 10)"
CACHE="$W/cache"
write_config "$W/config.json" "$CACHE"
start_imagegate --config "$W/config.json"
wait_until 20 serial_is 10
expect_status "serial 10 fetched from policyUrl" \
    ".serial == 10 and .organization == \"acme\" and .source == \"url:$POLICY_URL\" and .lastSync.ok and .lastSync.result == \"ok: serial 10\" and .mode == \"enforce\""
expect_status "status shows age, next sync and counters" \
    '(.ageSeconds >= 0) and (.nextSync | type == "string") and (.decisions | has("allowed") and has("denied")) and .stale == false'
expect_decision "serial 10 (even) allows someone/tool" "allow"
check "the cache directory is 0700" test "$(file_mode "$CACHE")" = 700
check "the cached bundle is 0600" test "$(file_mode "$CACHE/policy.bundle")" = 600
check "the cached bundle verifies: serial 10" test "$(cache_serial "$CACHE")" = 10
check "the admin socket is 0600" test "$(file_mode "$IG_ADMIN_SOCK")" = 600
expect_output "acme serial 10, enforce mode" "$IMAGEGATE" status --config "$IG_CONFIG"
expect_output "imagegate_policy_serial 10" curl -sS --unix-socket "$IG_ADMIN_SOCK" http://imagegate/metrics
expect_message_has 'imagegate_decisions_total{action="image.pull",category="community",decision="allow"} 1' \
    'imagegate_decision_duration_seconds_bucket{le="+Inf"}' imagegate_policy_age_seconds \
    "imagegate_policy_sync_failures_total 0" "imagegate_internal_errors_total 0"

section "a new serial is picked up without a restart"
publish "$(bundle 11)"
sync_now
expect_status "serial 11 in force" '.serial == 11 and .lastSync.result == "ok: serial 11"'
expect_decision "serial 11 (odd) denies someone/tool, naming the policy" \
    "deny: imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted by acme's Image Access Management (policy 11)"
check "the cache holds serial 11" test "$(cache_serial "$CACHE")" = 11

section "an unchanged bundle is not downloaded again (ETag)"
sync_now
expect_status "status says not modified" '.lastSync.ok and .lastSync.result == "not modified" and .serial == 11'
last_fetch=$(grep '^/bundle ' "$W/nginx/access.log" | tail -1)
if [[ $last_fetch =~ ^/bundle\ 304\ 0\ \"[^\"]+\"$ ]]; then
    pass "nginx answered 304 with no body to If-None-Match ($last_fetch)"
else
    fail "nginx answered 304 with no body to If-None-Match" "access log: $last_fetch"
fi

section "refused updates: the previous policy keeps deciding, status says why"
KEPT=11
touch "$W/www/fail500"
expect_refused "HTTP 500" "HTTP 500"
rm -f "$W/www/fail500"

head -c 3000 /dev/urandom | base64 >"$W/garbage"
publish "$W/garbage"
expect_refused "garbage body" "not a policy bundle"

head -c $((17 * 1024 * 1024)) /dev/zero >"$W/oversized"
publish "$W/oversized"
expect_refused "oversized body" "larger than the limit of 16777216 bytes"

python3 - "$(bundle 12)" "$W/badsig" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
at = data.index(b'"policy":"') + 20
data[at] = ord("A") if data[at] != ord("A") else ord("B")
open(sys.argv[2], "wb").write(data)
EOF
publish "$W/badsig"
expect_refused "one byte changed" "bad signature"

publish "$(bundle 12 acme "$W/otherkeys")"
expect_refused "signed with another key" "not with the configured public key"

publish "$(bundle 12 globex)"
expect_refused "another organization" 'bundle is for organization \"globex\", this host follows \"acme\"'

publish "$(bundle 9)"
expect_refused "lower serial (rollback)" "lower than the cached serial 11 (rollback refused)"

publish "$(bundle 12)"
stop_nginx
expect_refused "server down" "cannot connect"

start_hanging_server tcp
started=$SECONDS
expect_refused "server hanging before the TLS handshake" "no TLS handshake within 10 seconds (timed out)"
check "a server hanging in the handshake costs the connect timeout ($((SECONDS - started)) s)" \
    test $((SECONDS - started)) -lt 20
stop_hanging_server
start_hanging_server tls
started=$SECONDS
expect_refused "server hanging after the TLS handshake" "no answer within 15 seconds (timed out)"
check "a server that never answers costs the read timeout ($((SECONDS - started)) s)" \
    test $((SECONDS - started)) -lt 25
stop_hanging_server

start_nginx rogue
expect_refused "certificate from another CA" "server certificate not trusted"
stop_nginx

check "the cache still holds serial 11" test "$(cache_serial "$CACHE")" = 11
expect_status "every refusal was counted" '.syncFailures >= 10'
expect_output "imagegate_policy_sync_failures_total" curl -sS --unix-socket "$IG_ADMIN_SOCK" http://imagegate/metrics

start_nginx good
sync_now
expect_status "the server is back: serial 12 in force" '.serial == 12 and .lastSync.ok'
expect_decision "serial 12 allows someone/tool" "allow"
recorded_sync=$(jq -r .lastSyncTime "$CACHE/sync-state.json")

# =======================================================================================
section "the cache at start"
stop_imagegate
stop_nginx
cp -a "$CACHE" "$W/cache.good"

start_imagegate --config "$W/config.json"
expect_status "with the server down, the cached serial 12 is enforced at once" \
    ".serial == 12 and (.source | startswith(\"cache:\")) and .syncedAt == \"$recorded_sync\""
expect_decision "serial 12 decides from the cache" "allow"

# expect_cache_refused DESC WANT: restarts imagegate on a cache the caller damaged; the
# cache must not be used, and the log must say why (WANT).
expect_cache_refused() {
    local desc=$1 want=$2
    stop_imagegate
    start_imagegate --config "$W/config.json"
    expect_status "$desc: the cache is not used" '.serial == null and .source == null'
    expect_decision "$desc: image actions are denied" "deny: imagegate: "
    expect_message_has "no valid imagegate policy has been loaded"
    check "$desc: the log says why [\"$want\"]" grep -qF -- "$want" "$IG_LOG"
}
restore_cache() { rm -rf "$CACHE" && cp -a "$W/cache.good" "$CACHE"; }

truncate -s $(($(stat -c %s "$CACHE/policy.bundle") / 2)) "$CACHE/policy.bundle"
expect_cache_refused "truncated cache" "invalid JSON"
restore_cache
python3 - "$CACHE/policy.bundle" <<'EOF'
import sys
p = sys.argv[1]; data = bytearray(open(p, "rb").read())
data[len(data) // 2] ^= 0x01
open(p, "wb").write(data)
EOF
expect_cache_refused "one flipped bit in the cache" "unusable"
restore_cache
cp "$(bundle 12 acme "$W/otherkeys")" "$CACHE/policy.bundle"
expect_cache_refused "cache signed with another key" "not with the configured public key"
restore_cache
cp "$(bundle 10)" "$CACHE/policy.bundle"
expect_cache_refused "an older signed bundle put back in the cache" "rollback refused"
restore_cache

section "maxAgeSeconds keeps counting across restarts"
old=$(($(date +%s) - 7200))
jq --argjson t "$old" '.lastSync = $t | .lastSyncTime = (($t | todate))' "$W/cache.good/sync-state.json" \
    >"$CACHE/sync-state.json"
write_config "$W/config-maxage.json" "$CACHE" 3600
stop_imagegate
start_imagegate --config "$W/config-maxage.json"
expect_status "a cache last synced 2 h ago with maxAgeSeconds 3600 is stale" '.serial == 12 and .stale == true and .ageSeconds >= 7200'
expect_decision "image actions are denied as stale" "deny: "
expect_message_has "stale" "$(date -u -d "@$old" +%FT%TZ)"
stop_imagegate
restore_cache

# =======================================================================================
section "a full disk leaves the old cache intact"
TMPFS="$W/tmpfs"
mkdir -p "$TMPFS"
if mount -t tmpfs -o size=1m,mode=0700 tmpfs "$TMPFS"; then
    start_nginx good
    publish "$(bundle 14)"
    write_config "$W/config-tmpfs.json" "$TMPFS/cache"
    start_imagegate --config "$W/config-tmpfs.json"
    wait_until 20 serial_is 14
    check "serial 14 is cached on the small tmpfs" test "$(cache_serial "$TMPFS/cache")" = 14
    dd if=/dev/zero of="$TMPFS/filler" bs=4k 2>/dev/null # until the disk is full
    publish "$(bundle 15 acme "$W/keys" 2000)"
    sync_now
    expect_status "the new policy is in force, status says it is not cached" \
        '.serial == 15 and .lastSync.ok == false and (.lastSync.result | contains("not cached")) and (.lastSync.result | contains("No space left on device"))'
    check "the cache still verifies and holds serial 14" test "$(cache_serial "$TMPFS/cache")" = 14
    check "no temporary file is left on the full disk" test -z "$(find "$TMPFS/cache" -name '.*.tmp.*')"
    rm -f "$TMPFS/filler"
    sync_now
    expect_status "with space again, the next sync caches it" '.serial == 15 and .lastSync.ok'
    check "the cache holds serial 15" test "$(cache_serial "$TMPFS/cache")" = 15
    stop_imagegate
    umount "$TMPFS"
else
    fail "mount a tmpfs for the full-disk test (needs root with CAP_SYS_ADMIN)"
fi

# =======================================================================================
section "kill -9 during cache writes leaves a valid cache"
KCACHE="$W/cache-kill"
write_config "$W/config-kill.json" "$KCACHE"
publish "$(bundle 100 acme "$W/keys" 60000)"
sync_started=$(date +%s%N)
expect_ok "$IMAGEGATE" policy sync --config "$W/config-kill.json"
sync_ms=$((($(date +%s%N) - sync_started) / 1000000))
e2e_log "one sync of a $(stat -c %s "$W/www/bundle")-byte bundle takes ${sync_ms} ms"
check "policy sync cached serial 100" test "$(cache_serial "$KCACHE")" = 100
# kill_when_writing DIR PID: SIGKILL to PID as soon as its temporary cache file in DIR has
# data in it, i.e. in the middle of the write (gives up after 20 s).
kill_when_writing() {
    python3 - "$1" "$2" <<'EOF'
import os, signal, sys, time
cache, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 20
while time.time() < deadline:
    for name in os.listdir(cache):
        if name.startswith(".policy.bundle.tmp."):
            try:
                if os.stat(os.path.join(cache, name)).st_size > 0:
                    os.kill(pid, signal.SIGKILL)
                    sys.exit(0)
            except FileNotFoundError:
                pass
sys.exit(1)
EOF
}
interrupted=0 broken=0
for i in $(seq 1 12); do
    serial=$((100 + i))
    publish "$(bundle "$serial" acme "$W/keys" 60000)"
    before=$(cache_serial "$KCACHE")
    "$IMAGEGATE" policy sync --config "$W/config-kill.json" >/dev/null 2>&1 &
    pid=$!
    disown "$pid" # no "Killed" job notice in the output
    if ((i % 2)); then
        kill_when_writing "$KCACHE" "$pid" # odd rounds: mid-write, for certain
    else
        delay_ms=$((sync_ms * 4 / 10 + RANDOM % (sync_ms * 7 / 10 + 1))) # even rounds: any moment
        sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
    fi
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.05; done
    [[ -n $(find "$KCACHE" -name '.*.tmp.*') ]] && interrupted=$((interrupted + 1))
    after=$(cache_serial "$KCACHE")
    if [[ $after != "$before" && $after != "$serial" ]]; then
        broken=$((broken + 1))
        e2e_log "after kill $i: cache serial '$after' (before '$before', new $serial)"
    fi
done
check "12 kills -9 during syncs: the cache always verified, old or new serial" test "$broken" = 0
check "kills that cut a cache write short: $interrupted (at least 3)" test "$interrupted" -ge 3
expect_ok "$IMAGEGATE" policy sync --config "$W/config-kill.json"
check "the next sync caches serial 112" test "$(cache_serial "$KCACHE")" = 112
check "and clears the leftovers of interrupted writes" test -z "$(find "$KCACHE" -name '.*.tmp.*')"
publish "$(bundle 99)"
expect_fail "rollback refused" "$IMAGEGATE" policy sync --config "$W/config-kill.json"
check "the cache still holds serial 112" test "$(cache_serial "$KCACHE")" = 112

# =======================================================================================
section "100 policy swaps under load: no failed request, no mixed decision"
LCACHE="$W/cache-load"
write_config "$W/config-load.json" "$LCACHE"
publish "$(bundle 1000)"
start_imagegate --config "$W/config-load.json"
wait_until 20 serial_is 1000
for s in $(seq 1001 1100); do bundle "$s" >/dev/null; done
rm -f "$W/hammer.stop"
python3 - "$IG_SOCK" "$W/hammer.stop" "$W/hammer.result" "$PULL_TOOL" <<'EOF' &
import json, os, re, socket, sys, threading, time
sock_path, stop_file, result_file, body = sys.argv[1:5]
counts = {"total": 0, "allow": 0, "deny": 0, "failed": 0, "mixed": 0}
problems = []
lock = threading.Lock()
expected = re.compile(r"^imagegate: pull of docker\.io/someone/tool:latest denied: Community images are "
                      r"restricted by acme's Image Access Management \(policy (\d+)\)$")

def ask():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    data = body.encode()
    s.sendall(b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nConnection: close\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    s.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("status line %r" % head[:40])
    return json.loads(payload)

def worker():
    while not os.path.exists(stop_file):
        try:
            answer = ask()
            if answer.get("Allow") is True:
                kind = "allow"
            else:
                m = expected.match(answer.get("Msg", ""))
                # Odd serials deny; an even serial in a denial is a mixture of two policies.
                kind = "deny" if m and int(m.group(1)) % 2 == 1 else "mixed"
                if kind == "mixed":
                    with lock: problems.append(answer)
        except Exception as e:
            kind = "failed"
            with lock: problems.append(repr(e))
        with lock:
            counts["total"] += 1
            counts[kind] += 1

threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
counts["problems"] = problems[:5]
json.dump(counts, open(result_file, "w"))
EOF
HAMMER_PID=$!
swapped=0
for s in $(seq 1001 1100); do
    publish "$(bundle "$s")"
    kill -HUP "$IG_PID"
    wait_until 20 serial_is "$s" && swapped=$((swapped + 1))
done
touch "$W/hammer.stop"
wait "$HAMMER_PID"
check "100 swaps took effect ($swapped)" test "$swapped" = 100
result=$(cat "$W/hammer.result" 2>/dev/null)
e2e_log "hammer: $result"
if jq -e '.failed == 0 and .mixed == 0 and .total > 200 and .allow > 0 and .deny > 0' <<<"$result" >/dev/null 2>&1; then
    pass "requests during the swaps: $(jq -c '{total, allow, deny, failed, mixed}' <<<"$result")"
else
    fail "no failed request and no mixed decision during the swaps" "result: $result"
fi
stop_imagegate
stop_nginx

e2e_finish
