#!/usr/bin/env bash
# Two holes of the registry gateway (issue 26, docs/gateway.md "Registry mirrors" and "Loopback
# registries"), through a real dockerd 20.10 with HTTPS_PROXY at the gateway:
#  - a Docker Hub mirror (dockerd's --registry-mirror, then daemon.json registry-mirrors) that
#    is also a registry the policy allows: its requests must be decided as docker.io;
#  - a registry on loopback, which Go never reaches through a proxy: `FROM 127.0.0.1:PORT/x`
#    builds undecided until the loopback guard (firewall rules on dockerd's cgroup) refuses it,
#    and the plugin refuses builds while the guard is not in place.
# dockerd runs in a cgroup (v2) of its own. The whole suite runs in a network namespace of its
# own (unshare --net): the guard's iptables chain is that namespace's, so neither the host nor a
# suite running beside this one sees it, and it ends with the namespace.
if [[ -z ${IG_E2E_NETNS:-} ]]; then
    command -v unshare >/dev/null || { echo "gateway_loopback: needs unshare (util-linux)" >&2; exit 2; }
    IG_E2E_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up || { echo "gateway_loopback: cannot bring up lo in the new namespace" >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in iptables ip6tables iptables-restore openssl; do
    command -v "$tool" >/dev/null || e2e_fatal "needs $tool (scripts/deps.sh)"
done
CGROOT=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
    /proc/self/mountinfo | head -1)
[[ -n $CGROOT && -w $CGROOT/cgroup.procs ]] || e2e_fatal "no writable cgroup v2 hierarchy"
ORIG_CG=$CGROOT$(sed -n 's/^0:://p' /proc/self/cgroup)
CG_A=/imagegate-e2e-$$-a
CG_B=/imagegate-e2e-$$-b
mkdir "$CGROOT$CG_A" "$CGROOT$CG_B" || e2e_fatal "cannot make cgroups under $CGROOT"
loopback_cleanup() {
    local rc=$?
    ( (exit "$rc"); e2e_cleanup )
    rmdir "$CGROOT$CG_A" "$CGROOT$CG_B" 2>/dev/null
    exit "$rc"
}
trap loopback_cleanup EXIT

# in_cgroup CGROUP CMD...: runs CMD (start_dockerd, restart_dockerd) with this shell in CGROUP,
# so that what it starts stays there; the shell goes back afterwards.
in_cgroup() {
    local cgroup=$1
    shift
    echo "$BASHPID" >"$CGROOT$cgroup/cgroup.procs" || e2e_fatal "cannot enter $cgroup"
    "$@"
    echo "$BASHPID" >"$ORIG_CG/cgroup.procs"
}

W=$E2E_TMP/lb
mkdir -p "$W/store" "$W/loop" "$W/certs.d/mirror.e2e.test" "$W/certs.d/harbor.e2e.test" \
    "$W/certs.d/registry-1.docker.io"

# ---- a TLS docker-registry with Docker Hub's content: mirror.e2e.test, harbor.e2e.test, and
# registry-1.docker.io itself (dockerd falls back to it when a mirror fails: the same answer)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=loopback-e2e-ca \
    -keyout "$W/test-ca.key" -out "$W/test-ca.pem" 2>/dev/null || e2e_fatal "openssl: CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mirror.e2e.test \
    -keyout "$W/registry.key" -out "$W/registry.csr" 2>/dev/null &&
    openssl x509 -req -in "$W/registry.csr" -CA "$W/test-ca.pem" -CAkey "$W/test-ca.key" -CAcreateserial \
        -days 1 -out "$W/registry.pem" \
        -extfile <(printf 'subjectAltName=DNS:mirror.e2e.test,DNS:harbor.e2e.test,DNS:registry-1.docker.io,IP:127.0.0.1\n') 2>/dev/null ||
    e2e_fatal "openssl: registry certificate"
cp "$W/test-ca.pem" "$W/certs.d/mirror.e2e.test/upstream-test-ca.crt"
cp "$W/test-ca.pem" "$W/certs.d/harbor.e2e.test/upstream-test-ca.crt"
cp "$W/test-ca.pem" "$W/certs.d/registry-1.docker.io/upstream-test-ca.crt"
MPORT=$(free_port)
cat >"$W/mirror.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/store}}
http: {addr: 127.0.0.1:$MPORT, tls: {certificate: $W/registry.pem, key: $W/registry.key}}
EOF
docker-registry serve "$W/mirror.yml" >"$W/mirror.log" 2>&1 &
E2E_REGISTRY_PIDS+=($!)
MIRROR=https://127.0.0.1:$MPORT
wait_until 20 curl -sf --cacert "$W/test-ca.pem" "$MIRROR/v2/" || e2e_fatal "the TLS registry did not start"

# ---- a plain registry on loopback: what any local user can start
LPORT=$(free_port)
cat >"$W/loop.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/loop}}
http: {addr: 127.0.0.1:$LPORT}
EOF
docker-registry serve "$W/loop.yml" >"$W/loop.log" 2>&1 &
E2E_REGISTRY_PIDS+=($!)
LOOP=http://127.0.0.1:$LPORT
wait_until 20 curl -sf "$LOOP/v2/" || e2e_fatal "the loopback registry did not start"

# upload BASE REPO FILE: pushes FILE as a blob of REPO; prints its digest.
upload() {
    local base=$1 digest location
    digest=sha256:$(sha256sum "$3" | cut -d' ' -f1)
    location=$(curl -sf --cacert "$W/test-ca.pem" -X POST -D - -o /dev/null "$base/v2/$2/blobs/uploads/" |
        awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
    [[ $location == /* ]] && location=$base$location
    curl -sf --cacert "$W/test-ca.pem" -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary "@$3" "$location&digest=$digest" -o /dev/null || e2e_fatal "upload to $base/$2"
    echo "$digest"
}
# seed BASE REPO: an image of the busybox rootfs (its own config) as REPO:latest.
seed() {
    local base=$1 layer config
    layer=$(upload "$base" "$2" "$(make_rootfs_tar)")
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Labels":{"repo":"%s"}},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$2" "$layer" >"$W/config.json"
    config=$(upload "$base" "$2" "$W/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"%s"}]}' \
        "$(stat -c %s "$W/config.json")" "$config" "$(stat -c %s "$(make_rootfs_tar)")" "$layer" >"$W/manifest.json"
    curl -sf --cacert "$W/test-ca.pem" -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
        --data-binary "@$W/manifest.json" "$base/v2/$2/manifests/latest" -o /dev/null || e2e_fatal "manifest of $base/$2"
}
for repo in library/alpine acme/app randomuser/tool; do seed "$MIRROR" "$repo"; done
seed "$LOOP" x/evil

# ---- dockerd in cgroup A, through the gateway, with a Docker Hub mirror that the policy also
# allows as a registry in its own right
GW_PORT=$(free_port)
export E2E_DOCKERD_PROXY=http://127.0.0.1:$GW_PORT E2E_DOCKERD_SSL_CERT_DIR=$W/gateway-ca/trust
in_cgroup "$CG_A" start_dockerd --registry-mirror https://mirror.e2e.test
check "dockerd runs in its own cgroup $CG_A" grep -qx "0::$CG_A" "/proc/$DOCKERD_PID/cgroup"

policy=$W/policy.json
sed 's/"@REGISTRY@"/"mirror.e2e.test", "harbor.e2e.test"/' "$E2E_FIXTURES/acme-policy.json" >"$policy"
config=$W/imagegate.json
# make_gateway_config FILE GUARD: the gateway's configuration, loopbackGuard GUARD.
make_gateway_config() {
    cat >"$1" <<EOF
{"policyFile": "$policy", "decisionLog": "$W/decisions.jsonl", "adminSocket": "$W/admin.sock",
 "dockerSockets": ["$DOCKER_SOCK"],
 "gateway": {"listen": "127.0.0.1:$GW_PORT", "caDir": "$W/gateway-ca", "certsDir": "$W/certs.d",
             "loopbackGuard": $2,
             "upstreamOverride": {"mirror.e2e.test:443": "127.0.0.1:$MPORT",
                                  "harbor.e2e.test:443": "127.0.0.1:$MPORT",
                                  "registry-1.docker.io:443": "127.0.0.1:$MPORT"},
             "allowUpstreamOverride": true}}
EOF
}
GW_PID=
start_gateway() { # CONFIG
    "$IMAGEGATE" gateway --config "$1" >>"$W/gateway.log" 2>&1 &
    GW_PID=$!
    E2E_IMAGEGATE_PIDS+=("$GW_PID")
    wait_until 20 curl -sf "http://127.0.0.1:$GW_PORT/metrics" || {
        tail -20 "$W/gateway.log" >&2
        e2e_fatal "imagegate gateway did not start"
    }
}
gateway_lines() { grep -F '"source":"gateway"' "$W/decisions.jsonl" | grep -F "$1"; }
report() { jq -r "$1" "$W/gateway-ca/loopback-guard.json"; }
mkdir -p "$W/loop-build" "$W/community" "$W/allowed"
printf 'FROM 127.0.0.1:%s/x/evil\nLABEL built=1\n' "$LPORT" >"$W/loop-build/Dockerfile"
printf 'FROM randomuser/tool\nLABEL built=1\n' >"$W/community/Dockerfile"
printf 'FROM acme/app\nLABEL built=1\n' >"$W/allowed/Dockerfile"
legacy_build() { env DOCKER_BUILDKIT=0 /usr/bin/docker build "$@"; }
buildkit_build() { env DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"; }

section "the attack, without the loopback guard: FROM a loopback registry is decided by nothing"
make_gateway_config "$config" false
start_gateway "$config"
expect_ok legacy_build -t e2e-loop-legacy "$W/loop-build"
expect_ok buildkit_build -t e2e-loop-buildkit "$W/loop-build"
check "x/evil came from 127.0.0.1:$LPORT and no decision was made about it" \
    bash -c "dk image inspect 127.0.0.1:$LPORT/x/evil >/dev/null && ! grep -qF 'x/evil' '$W/decisions.jsonl'"
check "the gateway says the guard is off (report)" \
    bash -c "test \"\$(jq -r .inPlace '$W/gateway-ca/loopback-guard.json')\" = false"
dk rmi -f e2e-loop-legacy e2e-loop-buildkit "127.0.0.1:$LPORT/x/evil" >/dev/null 2>&1

section "registry mirrors: dockerd's --registry-mirror is decided as docker.io"
check "the gateway read dockerd's mirror flag" \
    grep -qF "Docker Hub mirrors, decided as docker.io: mirror.e2e.test  (dockerd (pid $DOCKERD_PID) --registry-mirror)" "$W/gateway.log"
check "the gateway CA covers mirror.e2e.test" \
    bash -c "openssl x509 -in '$W/gateway-ca/ca.crt' -noout -text | grep -q 'DNS:mirror.e2e.test'"
# Decided as mirror.e2e.test/randomuser/tool (another registry, no Docker Hub category) it
# would come from the mirror; decided as docker.io it is a community image, and dockerd's
# fall-back to registry-1.docker.io is denied the same.
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied: Community images are restricted" \
    dk pull randomuser/tool
check "randomuser/tool is not local" bash -c "! dk image inspect randomuser/tool >/dev/null 2>&1"
expect_ok dk pull alpine
check "decision log: the mirror's request decided as docker.io/library/alpine, allowed" \
    bash -c "gateway_lines() { grep -F '\"source\":\"gateway\"' '$W/decisions.jsonl'; };
             gateway_lines | grep -F '\"reference\":\"docker.io/library/alpine:latest\"' | grep -qF '\"decision\":\"allow\"'"
check "no decision named mirror.e2e.test as the registry" bash -c "! grep -qF 'mirror.e2e.test/' '$W/decisions.jsonl'"
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied" legacy_build -t e2e-c1 "$W/community"
expect_fail "403 imagegate: pull of docker.io/randomuser/tool:latest denied" buildkit_build -t e2e-c2 "$W/community"
expect_ok legacy_build -t e2e-a1 "$W/allowed"
dk rmi -f e2e-a1 acme/app >/dev/null 2>&1
expect_ok buildkit_build -t e2e-a2 "$W/allowed"
# harbor.e2e.test serves the same content, and is not (yet) a mirror: decided as itself.
expect_ok dk pull harbor.e2e.test/randomuser/tool
dk rmi -f harbor.e2e.test/randomuser/tool >/dev/null 2>&1

section "the loopback guard: installed by the gateway on dockerd's cgroup"
stop_pid "$GW_PID" 10
make_gateway_config "$config" true
start_gateway "$config"
check "the gateway installed the guard for $CG_A" \
    wait_until 10 grep -qF "loopback guard installed: IMAGEGATE-LOOPBACK refuses TCP from cgroup $CG_A" "$W/gateway.log"
check "iptables: OUTPUT jumps to IMAGEGATE-LOOPBACK first; it rejects $CG_A's SYNs to 127.0.0.0/8" \
    bash -c "iptables -w -S OUTPUT | sed -n 2p | grep -qx -- '-A OUTPUT -j IMAGEGATE-LOOPBACK' &&
             iptables -w -S IMAGEGATE-LOOPBACK | grep -F -- '-d 127.0.0.0/8' | grep -F '$CG_A' | grep -q 'REJECT --reject-with tcp-reset'"
check "ip6tables: ::1 and ::ffff:127.0.0.0/104 too" \
    bash -c "ip6tables -w -S IMAGEGATE-LOOPBACK | grep -qF -- '-d ::1/128' && ip6tables -w -S IMAGEGATE-LOOPBACK | grep -qF -- '-d ::ffff:127.0.0.0/104'"
check "the report: in place, for $CG_A" bash -c "test \"\$(jq -r '.inPlace, .cgroups[0].path' '$W/gateway-ca/loopback-guard.json' | tr '\n' ' ')\" = 'true $CG_A '"
expect_fail "connection refused" legacy_build -t e2e-loop-legacy "$W/loop-build"
expect_fail "connection refused" buildkit_build -t e2e-loop-buildkit "$W/loop-build"
expect_fail "connection refused" dk pull "localhost:$LPORT/x/evil"
check "nothing came from the loopback registry" \
    bash -c "! dk image inspect 127.0.0.1:$LPORT/x/evil >/dev/null 2>&1 && ! dk image inspect e2e-loop-legacy >/dev/null 2>&1 && ! dk image inspect e2e-loop-buildkit >/dev/null 2>&1"
check "other processes still reach the loopback registry" curl -sf "$LOOP/v2/"
dk rmi -f e2e-a2 acme/app alpine >/dev/null 2>&1
expect_ok legacy_build -t e2e-a3 "$W/allowed"
expect_ok buildkit_build -t e2e-a4 "$W/allowed"
expect_ok dk pull alpine
expect_fail "Community images are restricted" dk pull randomuser/tool
iptables -w -F IMAGEGATE-LOOPBACK
check "a flushed chain is put back (the gateway checks every 2 s)" \
    wait_until 10 bash -c "iptables -w -S IMAGEGATE-LOOPBACK | grep -qF '$CG_A'"
iptables -w -I OUTPUT 1 -o lo -j ACCEPT
check "so is a rule slipped in before its jump" \
    wait_until 10 bash -c "iptables -w -S OUTPUT | sed -n 2p | grep -qx -- '-A OUTPUT -j IMAGEGATE-LOOPBACK'"

section "the plugin refuses builds while the guard is not in place"
jq --arg log "$W/plugin-decisions.jsonl" '.decisionLog = $log' "$config" >"$W/plugin.json"
start_imagegate --config "$W/plugin.json"
in_cgroup "$CG_A" restart_dockerd --registry-mirror https://mirror.e2e.test --authorization-plugin="$IG_NAME"
dk rmi -f e2e-a3 e2e-a4 >/dev/null 2>&1
expect_ok legacy_build -t e2e-a5 "$W/allowed"
check "the gateway's report names the restarted dockerd" \
    wait_until 10 bash -c "jq -e '.dockerdPids == [$DOCKERD_PID]' '$W/gateway-ca/loopback-guard.json'"
expect_output "loopback guard in place for dockerd's cgroup $CG_A" "$IMAGEGATE" status --config "$IG_CONFIG"
expect_message_has "mirror.e2e.test  (dockerd (pid $DOCKERD_PID) --registry-mirror)" "allowed by the loopback guard check"
# dockerd moves to another cgroup while the gateway is down: the guard covers the old one.
# (The report is made as fresh as a running gateway keeps it, so that what the plugin finds
# wrong is the cgroup; a running gateway renews the guard within 2 s.)
stop_pid "$GW_PID" 10
# Stopped, the gateway says so at once: another process could take its port meanwhile.
expect_denied "imagegate gateway stopped: builds are refused until it runs again" legacy_build -t e2e-stopped "$W/allowed"
cat >"$W/daemon.json" <<EOF
{"authorization-plugins": ["$IG_NAME"], "registry-mirrors": ["https://MIRROR.E2E.TEST:443/"]}
EOF
in_cgroup "$CG_B" restart_dockerd --config-file "$W/daemon.json"
check "dockerd now runs in $CG_B" grep -qx "0::$CG_B" "/proc/$DOCKERD_PID/cgroup"
jq ".checkedAt = $(date +%s) | .inPlace = true | .problem = \"\"" "$W/gateway-ca/loopback-guard.json" >"$W/report.new" &&
    mv "$W/report.new" "$W/gateway-ca/loopback-guard.json"
expect_denied "the registry gateway's loopback guard is not in place" legacy_build -t e2e-moved "$W/allowed"
expect_message_has "docs/gateway.md" "runs in cgroup \"$CG_B\", which the guard does not cover"
# (BuildKit's first request, the session, is refused: the CLI shows only "received 403".)
expect_fail "received 403" buildkit_build -t e2e-moved "$W/allowed"
check "the plugin's decision log: both builds denied for the guard, cause registry" \
    bash -c "test \$(grep -F 'loopback guard is not in place' '$W/plugin-decisions.jsonl' |
                     grep -cF '\"cause\":\"registry\"') -ge 2"
# The guard removed and the gateway gone: its report goes stale.
iptables -w -D OUTPUT -j IMAGEGATE-LOOPBACK && iptables -w -F IMAGEGATE-LOOPBACK && iptables -w -X IMAGEGATE-LOOPBACK
sleep $((16 - ($(date +%s) - $(report .checkedAt)))) 2>/dev/null
expect_denied "ago (" legacy_build -t e2e-stale "$W/allowed"
expect_message_has "is \`imagegate gateway\` running?"
expect_output "REFUSED: the registry gateway last checked it" "$IMAGEGATE" status --config "$IG_CONFIG"
start_gateway "$config"
check "the gateway put the guard on $CG_B" \
    wait_until 10 bash -c "iptables -w -S IMAGEGATE-LOOPBACK | grep -qF '$CG_B' && ! iptables -w -S IMAGEGATE-LOOPBACK | grep -qF '$CG_A'"
expect_ok legacy_build -t e2e-back "$W/allowed"
expect_fail "connection refused" buildkit_build -t e2e-loop-buildkit "$W/loop-build"

section "registry mirrors from daemon.json, and one added there while everything runs"
check "MIRROR.E2E.TEST:443/ in daemon.json is mirror.e2e.test" \
    bash -c "jq -r '.hubMirrors[]' '$W/gateway-ca/loopback-guard.json' | grep -qx mirror.e2e.test"
dk rmi -f alpine >/dev/null 2>&1
expect_ok dk pull alpine
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied" dk pull randomuser/tool
cat >"$W/daemon.json" <<EOF
{"authorization-plugins": ["$IG_NAME"], "registry-mirrors": ["https://harbor.e2e.test"]}
EOF
kill -HUP "$DOCKERD_PID"
check "the gateway took up harbor.e2e.test as a mirror within 2 s of dockerd's reload" \
    wait_until 10 bash -c "jq -r '.hubMirrors[]' '$W/gateway-ca/loopback-guard.json' | grep -qx harbor.e2e.test"
# Pulled straight from harbor.e2e.test (no fall-back for another registry's name): allowed
# before, as harbor.e2e.test/randomuser/tool; denied now, as docker.io/randomuser/tool.
before=$(wc -l <"$W/decisions.jsonl")
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied: Community images are restricted" \
    dk pull harbor.e2e.test/randomuser/tool
check "decision log: harbor.e2e.test's request decided as docker.io/randomuser/tool" \
    bash -c "tail -n +$((before + 1)) '$W/decisions.jsonl' | grep -F '\"source\":\"gateway\"' |
             grep -F 'docker.io/randomuser/tool' | grep -qF '\"decision\":\"deny\"'"
dk rmi -f alpine >/dev/null 2>&1
expect_ok dk pull alpine
expect_output "harbor.e2e.test  ($W/daemon.json)" "$IMAGEGATE" status --config "$IG_CONFIG"
check "the gateway CA was made once, with the mirror: three restarts kept it" \
    bash -c "test \$(grep -c 'made a new gateway CA' '$W/gateway.log') = 1 &&
             jq -e '.hosts == [\"mirror.e2e.test\"]' '$W/gateway-ca/hub-mirrors.json'"

e2e_finish
