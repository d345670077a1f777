#!/usr/bin/env bash
# The registry gateway (issue 17, docs/gateway.md) in front of a real dockerd 20.10: a real
# docker-registry over TLS (a test CA) answers as registry-1.docker.io through the gateway's
# test-only gateway.upstreamOverride; dockerd runs with HTTPS_PROXY pointing at the gateway
# and SSL_CERT_DIR at its CA, and no registry mirror. The plugin is not installed: every
# decision here is the gateway's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$E2E_TMP/gw
mkdir -p "$W/store" "$W/certs.d/registry-1.docker.io"

# ---- a TLS registry that is registry-1.docker.io to whoever trusts the test CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=gateway-e2e-ca \
    -keyout "$W/test-ca.key" -out "$W/test-ca.pem" 2>/dev/null || e2e_fatal "openssl: CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=registry-1.docker.io \
    -keyout "$W/registry.key" -out "$W/registry.csr" 2>/dev/null &&
    openssl x509 -req -in "$W/registry.csr" -CA "$W/test-ca.pem" -CAkey "$W/test-ca.key" -CAcreateserial \
        -days 1 -out "$W/registry.pem" \
        -extfile <(printf 'subjectAltName=DNS:registry-1.docker.io,DNS:ghcr.io,IP:127.0.0.1\n') 2>/dev/null ||
    e2e_fatal "openssl: registry certificate"
REG_PORT=$(free_port)
cat >"$W/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/store}}
http: {addr: 127.0.0.1:$REG_PORT, tls: {certificate: $W/registry.pem, key: $W/registry.key}}
EOF
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
E2E_REGISTRY_PIDS+=($!)
REG=https://127.0.0.1:$REG_PORT
wait_until 20 curl -sf --cacert "$W/test-ca.pem" "$REG/v2/" || e2e_fatal "the TLS registry did not start"
# The gateway trusts the registry as an admin would: a *.crt in certs.d/registry-1.docker.io/.
cp "$W/test-ca.pem" "$W/certs.d/registry-1.docker.io/upstream-test-ca.crt"

# A second registry, as ghcr.io, that wants tokens from a token server on another port (an
# openssl s_server): what the gateway may tunnel to only once an allowed answer named it.
TOKEN_PORT=$(free_port)
AUTH_PORT=$(free_port)
mkdir -p "$W/www" "$W/store2" "$W/certs.d/ghcr.io"
echo '{"token":"e2e-token"}' >"$W/www/token"
(cd "$W/www" && exec openssl s_server -quiet -accept "127.0.0.1:$TOKEN_PORT" -cert "$W/registry.pem" \
    -key "$W/registry.key" -WWW) >"$W/token-server.log" 2>&1 &
E2E_REGISTRY_PIDS+=($!)
cat >"$W/registry2.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/store2}}
http: {addr: 127.0.0.1:$AUTH_PORT, tls: {certificate: $W/registry.pem, key: $W/registry.key}}
auth: {token: {realm: "https://127.0.0.1:$TOKEN_PORT/token", service: e2e, issuer: e2e, rootcertbundle: $W/test-ca.pem}}
YAML
docker-registry serve "$W/registry2.yml" >"$W/registry2.log" 2>&1 &
E2E_REGISTRY_PIDS+=($!)
wait_until 20 curl -s --cacert "$W/test-ca.pem" -o /dev/null "https://127.0.0.1:$AUTH_PORT/v2/" ||
    e2e_fatal "the token-auth registry did not start"
cp "$W/test-ca.pem" "$W/certs.d/ghcr.io/upstream-test-ca.crt"

# upload REPO FILE: pushes FILE as a blob of REPO with the registry API; prints its digest.
upload() {
    local digest location
    digest=sha256:$(sha256sum "$2" | cut -d' ' -f1)
    location=$(curl -sf --cacert "$W/test-ca.pem" -X POST -D - -o /dev/null "$REG/v2/$1/blobs/uploads/" |
        awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
    [[ $location == /* ]] && location=$REG$location
    curl -sf --cacert "$W/test-ca.pem" -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary "@$2" "$location&digest=$digest" -o /dev/null || e2e_fatal "upload to $1"
    echo "$digest"
}
# seed REPO: an image of the busybox rootfs (its own config, hence its own digest) as REPO:latest.
seed() {
    local layer config
    layer=$(upload "$1" "$(make_rootfs_tar)")
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Labels":{"repo":"%s"}},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$1" "$layer" >"$W/config.json"
    config=$(upload "$1" "$W/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"%s"}]}' \
        "$(stat -c %s "$W/config.json")" "$config" "$(stat -c %s "$(make_rootfs_tar)")" "$layer" >"$W/manifest.json"
    curl -sf --cacert "$W/test-ca.pem" -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
        --data-binary "@$W/manifest.json" "$REG/v2/$1/manifests/latest" -o /dev/null || e2e_fatal "manifest of $1"
}
for repo in library/alpine acme/app randomuser/tool someone/approved-tool bitnami/redis curlimages/curl; do
    seed "$repo"
done

# ---- imagegate gateway, with the acme policy (community and sponsored OSS restricted)
GW_PORT=$(free_port)
policy=$W/policy.json
sed 's/, "@REGISTRY@"//' "$E2E_FIXTURES/acme-policy.json" >"$policy"
config=$W/imagegate.json
cat >"$config" <<EOF
{"policyFile": "$policy", "decisionLog": "$W/decisions.jsonl", "socket": "$W/plugin.sock",
 "adminSocket": "",
 "gateway": {"listen": "127.0.0.1:$GW_PORT", "caDir": "$W/gateway-ca", "certsDir": "$W/certs.d",
             "upstreamOverride": {"registry-1.docker.io:443": "127.0.0.1:$REG_PORT",
                                  "ghcr.io:443": "127.0.0.1:$AUTH_PORT"},
             "allowUpstreamOverride": true}}
EOF
GW_PID=
start_gateway() {
    "$IMAGEGATE" gateway --config "$config" >>"$W/gateway.log" 2>&1 &
    GW_PID=$!
    E2E_IMAGEGATE_PIDS+=("$GW_PID")
    wait_until 20 curl -sf "http://127.0.0.1:$GW_PORT/metrics" || {
        tail -20 "$W/gateway.log" >&2
        e2e_fatal "imagegate gateway did not start"
    }
}
start_gateway
GW="curl -s --max-time 30 -x http://127.0.0.1:$GW_PORT --cacert $W/gateway-ca/ca.crt"
log_has() { grep -F "$1" "$W/decisions.jsonl" | grep -qF "$2"; }
gateway_lines() { grep -F '"source":"gateway"' "$W/decisions.jsonl" | grep -F "$1"; }

section "the gateway CA"
check "ca.key is 0600, owned by root" test "$(stat -c '%a %u' "$W/gateway-ca/ca.key")" = "600 0"
check "ca.crt is a P-256 CA whose name constraints permit only the intercepted hosts" \
    bash -c "openssl x509 -in '$W/gateway-ca/ca.crt' -noout -text | grep -q 'Permitted:' &&
             openssl x509 -in '$W/gateway-ca/ca.crt' -noout -text | grep -q 'DNS:registry-1.docker.io' &&
             openssl x509 -in '$W/gateway-ca/ca.crt' -noout -text | grep -q 'prime256v1' &&
             ! openssl x509 -in '$W/gateway-ca/ca.crt' -noout -text | grep -q 'DNS:auth.docker.io'"
check "the leaf for registry-1.docker.io verifies against the gateway CA (curl through the proxy)" \
    bash -c "$GW -f https://registry-1.docker.io/v2/ >/dev/null"
check "upstream TLS is verified: without the admin's certs.d CA the registry is not trusted" \
    bash -c "mv '$W/certs.d/registry-1.docker.io/upstream-test-ca.crt' '$W/upstream.off' &&
             kill $GW_PID && sleep 0.5 &&
             { '$IMAGEGATE' gateway --config '$config' >>'$W/gateway.log' 2>&1 & echo \$! >'$W/gw2.pid'; } &&
             for i in \$(seq 50); do curl -s http://127.0.0.1:$GW_PORT/metrics >/dev/null && break; sleep 0.2; done;
             code=\$($GW -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/library/alpine/manifests/latest);
             kill \$(cat '$W/gw2.pid'); mv '$W/upstream.off' '$W/certs.d/registry-1.docker.io/upstream-test-ca.crt';
             sleep 0.5; test \"\$code\" = 502"
grep -q 'certificate verify failed\|unable to get local issuer' "$W/gateway.log" &&
    pass "the gateway said why: the registry's certificate did not verify" ||
    fail "the gateway log lacks the verification failure" "$(tail -5 "$W/gateway.log")"
start_gateway

section "token servers: tunnelled only once an allowed registry named them"
TOKEN_URL=https://127.0.0.1:$TOKEN_PORT/token
via_gateway_test_ca() { curl -s --max-time 20 -x "http://127.0.0.1:$GW_PORT" --cacert "$W/test-ca.pem" "$@"; }
check "CONNECT to the token server before any registry named it: 403" \
    bash -c "curl -s --max-time 20 -x http://127.0.0.1:$GW_PORT --cacert '$W/test-ca.pem' -o /dev/null -w '%{http_connect}' $TOKEN_URL | grep -q '^403$'"
check "ghcr.io (intercepted) answers 401 naming its token server" \
    bash -c "$GW -D - -o /dev/null https://ghcr.io/v2/ | grep -qi 'www-authenticate: Bearer realm=.https://127.0.0.1:$TOKEN_PORT/token'"
expect_output "e2e-token" via_gateway_test_ca "$TOKEN_URL"
check "the tunnel is blind: the token server's own certificate, not a gateway leaf" \
    bash -c "! curl -s --max-time 20 -x http://127.0.0.1:$GW_PORT --cacert '$W/gateway-ca/ca.crt' -o /dev/null $TOKEN_URL"

# ---- dockerd through the gateway
E2E_DOCKERD_PROXY=http://127.0.0.1:$GW_PORT E2E_DOCKERD_SSL_CERT_DIR=$W/gateway-ca/trust start_dockerd

section "docker pull"
expect_ok dk pull alpine
check "alpine is local" dk image inspect alpine
check "decision log: allowed image.pull of docker.io/library/alpine:latest, source gateway" \
    log_has '"reference":"docker.io/library/alpine:latest"' '"decision":"allow","reason":"Docker Official images are allowed'
check "the allowed line has source gateway and the wire endpoint" \
    bash -c "grep -F 'docker.io/library/alpine:latest' '$W/decisions.jsonl' | grep -F '\"source\":\"gateway\"' | grep -qF '\"endpoint\":\"GET /v2/library/alpine/manifests/latest\"'"
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied: Community images are restricted" \
    dk pull randomuser/tool
check "randomuser/tool is not local" bash -c "! dk image inspect randomuser/tool >/dev/null 2>&1"
check "decision log: denied with cause image, source gateway" \
    bash -c "grep -F 'docker.io/randomuser/tool' '$W/decisions.jsonl' | grep -F '\"source\":\"gateway\"' | grep -qF '\"cause\":\"image\"'"
expect_ok dk pull someone/approved-tool
expect_ok dk pull bitnami/redis
expect_fail "Sponsored Open Source images are restricted" dk pull curlimages/curl
expect_fail "" dk pull evil.example:5000/x/y
check "decision log: CONNECT to evil.example:5000 refused by Registry Access Management" \
    bash -c "gateway_lines() { grep -F '\"source\":\"gateway\"' '$W/decisions.jsonl'; };
             gateway_lines | grep -F '\"endpoint\":\"CONNECT evil.example:5000\"' | grep -qF '\"cause\":\"registry\"'"

section "builds: the legacy builder and BuildKit (Debian's /usr/bin/docker)"
mkdir -p "$W/deny" "$W/allow"
printf 'FROM randomuser/tool\nLABEL built=1\n' >"$W/deny/Dockerfile"
printf 'FROM acme/app\nLABEL built=1\n' >"$W/allow/Dockerfile"
expect_fail "imagegate: pull of docker.io/randomuser/tool:latest denied" \
    env DOCKER_BUILDKIT=0 /usr/bin/docker build -t e2e-deny-legacy "$W/deny"
expect_ok env DOCKER_BUILDKIT=0 /usr/bin/docker build -t e2e-allow-legacy "$W/allow"
check "the legacy build pulled acme/app through the gateway" \
    bash -c "grep -F 'docker.io/acme/app' '$W/decisions.jsonl' | grep -qF '\"source\":\"gateway\"'"
dk rmi -f e2e-allow-legacy acme/app >/dev/null 2>&1
: >"$W/decisions.jsonl.mark"
before=$(wc -l <"$W/decisions.jsonl")
expect_fail "403 imagegate: pull of docker.io/randomuser/tool:latest denied" \
    env DOCKER_BUILDKIT=1 /usr/bin/docker build -t e2e-deny-buildkit "$W/deny"
expect_ok env DOCKER_BUILDKIT=1 /usr/bin/docker build -t e2e-allow-buildkit "$W/allow"
check "BuildKit resolved acme/app through the gateway" \
    bash -c "tail -n +$((before + 1)) '$W/decisions.jsonl' | grep -F 'docker.io/acme/app' | grep -qF '\"source\":\"gateway\"'"
before=$(wc -l <"$W/decisions.jsonl")
_run env DOCKER_BUILDKIT=1 /usr/bin/docker build --cache-from randomuser/tool -t e2e-cache "$W/allow"
check "BuildKit --cache-from randomuser/tool: the cache import was denied at the gateway" \
    bash -c "tail -n +$((before + 1)) '$W/decisions.jsonl' | grep -F 'docker.io/randomuser/tool' | grep -qF '\"decision\":\"deny\"'"
check "randomuser/tool is still not local" bash -c "! dk image inspect randomuser/tool >/dev/null 2>&1"

section "a one-node swarm: the task pulls"
SWARM_PORT=$(free_port)
expect_ok dk swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$SWARM_PORT"
dk rmi -f alpine >/dev/null 2>&1
before=$(wc -l <"$W/decisions.jsonl")
expect_ok dk service create --detach --name e2e-restricted randomuser/tool sleep 300
expect_ok dk service create --detach --name e2e-official alpine sleep 300
task_running() { dk service ps "$1" --format '{{.CurrentState}}' | grep -q '^Running'; }
task_rejected() { dk service ps "$1" --no-trunc --format '{{.CurrentState}}' | grep -q '^Rejected'; }
check "the alpine service's task runs" wait_until 60 task_running e2e-official
check "the randomuser/tool task is rejected" wait_until 60 task_rejected e2e-restricted
check "it never ran" bash -c "! dk service ps e2e-restricted --format '{{.CurrentState}}' | grep -q Running"
check "decision log: the worker's pull of randomuser/tool was denied at the gateway" \
    bash -c "tail -n +$((before + 1)) '$W/decisions.jsonl' | grep -F 'docker.io/randomuser/tool' | grep -qF '\"decision\":\"deny\"'"
dk service rm e2e-restricted e2e-official >/dev/null 2>&1
dk swarm leave --force >/dev/null 2>&1

section "the same decisions as imagegate check"
corpus=(alpine library/busybox acme/app acme-ci/tool randomuser/tool bitnami/redis grafana/grafana
    curlimages/curl someone/approved-tool someone/other ghcr.io/acme/app ghcr.io/randomuser/tool
    registry.acme.example:5000/acme/app quay.io/acme/app evil.example/x)
agree=0 disagree=()
for ref in "${corpus[@]}"; do
    "$IMAGEGATE" check --config "$config" "$ref" >/dev/null 2>&1
    check_rc=$?
    name=$ref host=registry-1.docker.io
    if [[ $ref == *.*/* || $ref == *:*/* ]]; then host=${ref%%/*}; name=${ref#*/}; fi
    [[ $host == registry-1.docker.io && $name != */* ]] && name=library/$name
    # Denied: a 403 to the request, or to its CONNECT (http_connect); anything else went on.
    read -r code connect_code < <($GW -o /dev/null -w '%{http_code} %{http_connect}\n' "https://$host/v2/$name/manifests/latest")
    gw_denied=0
    [[ $code == 403 || $connect_code == 403 ]] && gw_denied=1
    if [[ $((check_rc == 1)) == "$gw_denied" ]]; then agree=$((agree + 1)); else disagree+=("$ref (check $check_rc, gateway $code/$connect_code)"); fi
done
if ((${#disagree[@]} == 0)); then pass "the gateway and imagegate check agree on ${#corpus[@]} references"; else fail "the gateway and check disagree" "${disagree[@]}"; fi

section "hostile input on the proxy port"
hostile() { # NAME: one of the cases in the python below; prints what the gateway answered
    python3 - "$GW_PORT" "$1" <<'PY'
import socket, sys, time
port, case = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=40)
start = time.time()
try:
    if case == "garbage":
        s.sendall(b"\x00\x01\x02garbage\xff\r\n\r\n")
    elif case == "tls":
        s.sendall(bytes.fromhex("16030100a5010000a10303") + b"\x00" * 160)
    elif case == "headers":
        s.sendall(b"CONNECT registry-1.docker.io:443 HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(10000)) + b"\r\n")
    elif case == "line":
        s.sendall(b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n")
    elif case == "slow":
        for b in b"CONNECT registry-1.docker.io:443 HTTP/1.1\r\n":
            s.sendall(bytes([b])); time.sleep(1)
    elif case == "connect-other":
        s.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
except (BrokenPipeError, ConnectionResetError):
    pass  # the gateway answered and closed before all was sent: read what it said
try:
    data = s.recv(4096)
except ConnectionResetError:
    data = b"(reset)"
except socket.timeout:
    data = b"(no answer)"
print(data.split(b"\r\n")[0].decode("latin-1") or "(closed)", "after %.0fs" % (time.time() - start))
PY
}
expect_output "HTTP/1.1 400" hostile garbage
expect_output "HTTP/1.1 400" hostile tls
expect_output "HTTP/1.1 431" hostile headers
expect_output "HTTP/1.1 431" hostile line
expect_output "HTTP/1.1 403" hostile connect-other
hostile slow >"$W/slow.out" 2>&1 &
slow_pid=$!
sleep 2
check "while a slow client dribbles, another client is served" bash -c "$GW -f https://registry-1.docker.io/v2/ >/dev/null"
wait "$slow_pid"
check "the slow client was cut off within 30 s" bash -c "grep -Eq 'after ([0-9]|[12][0-9])s' '$W/slow.out' && ! grep -q 'HTTP/1.1 200' '$W/slow.out'"
check "a request with Content-Length and Transfer-Encoding inside the tunnel is refused" \
    bash -c "$GW -o /dev/null -w '%{http_code}' -X PUT -H 'Transfer-Encoding: chunked' -H 'Content-Length: 3' --data-binary abc https://registry-1.docker.io/v2/acme/app/manifests/x | grep -qE '^(400|000)$'"
check "a Host other than the CONNECT's is refused" \
    bash -c "$GW -o /dev/null -w '%{http_code}' -H 'Host: evil.example' https://registry-1.docker.io/v2/library/alpine/manifests/latest | grep -q '^400$'"
check "an escaped slash in the repository is refused" \
    bash -c "$GW -o /dev/null -w '%{http_code}' --path-as-is 'https://registry-1.docker.io/v2/randomuser%2Ftool/manifests/latest' | grep -q '^403$'"
check "the gateway is still alive" pid_alive "$GW_PID"
dk rmi -f alpine >/dev/null 2>&1
expect_ok dk pull alpine

section "metrics, audit mode, reload"
check "GET /metrics on the gateway port counts denials by cause" \
    bash -c "curl -sf http://127.0.0.1:$GW_PORT/metrics | grep -q 'cause=\"image\"'"
sed 's/"mode": "enforce"/"mode": "audit"/' "$policy" >"$policy.new" && mv "$policy.new" "$policy"
check "the gateway reloads the changed policy file" wait_until 15 grep -q 'reloaded policy' "$W/gateway.log"
expect_ok dk pull randomuser/tool
check "audit mode: the pull went through and the would-be denial is logged" \
    bash -c "grep -F 'docker.io/randomuser/tool' '$W/decisions.jsonl' | grep -F '\"mode\":\"audit\"' | grep -qF '\"decision\":\"deny\"'"
sed 's/"mode": "audit"/"mode": "enforce"/' "$policy" >"$policy.new" && mv "$policy.new" "$policy"
check "back to enforce" wait_until 15 bash -c "grep -c 'reloaded policy' '$W/gateway.log' | grep -q 2"

section "issue 26: what the registry reads as the same request is decided the same"
# The digests of randomuser/tool (community, restricted): its manifest, its layer.
tool_manifest=$(curl -sf --cacert "$W/test-ca.pem" -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$REG/v2/randomuser/tool/manifests/latest" | awk 'tolower($1) == "docker-content-digest:" {print $2}' | tr -d '\r')
tool_layer=$(curl -sf --cacert "$W/test-ca.pem" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$REG/v2/randomuser/tool/manifests/latest" | jq -r '.layers[0].digest')
[[ $tool_manifest == sha256:* && $tool_layer == sha256:* ]] || e2e_fatal "randomuser/tool's digests: '$tool_manifest' '$tool_layer'"
# 1. An escaped /v2/ prefix: the registry decodes it to /v2/... and serves the community blob.
for path in "/%76%32/randomuser/tool/blobs/$tool_layer" "/v%32/randomuser/tool/blobs/$tool_layer" \
    "/%76%32/randomuser/tool/manifests/latest" "/v2/randomuser/t%6Fol/manifests/latest"; do
    check "GET $path through the gateway is refused (403)" \
        bash -c "$GW -o /dev/null -w '%{http_code}' --path-as-is 'https://registry-1.docker.io$path' | grep -q '^403$'"
done
check "the registry itself serves the escaped path (so the refusal is the gateway's)" \
    bash -c "curl -s --cacert '$W/test-ca.pem' --path-as-is -o /dev/null -w '%{http_code}' '$REG/%76%32/randomuser/tool/blobs/$tool_layer' | grep -q '^200$'"
check "paths outside /v2/ on an intercepted registry are refused" \
    bash -c "$GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io/V2/randomuser/tool/manifests/latest' | grep -q '^403$'"
check "decision log: the escaped path denied with cause unreadable_request" \
    bash -c "grep -F '\"source\":\"gateway\"' '$W/decisions.jsonl' | grep -F '/%76%32/randomuser/tool' | grep -qF '\"cause\":\"unreadable_request\"'"
mkdir -p "$W/add-legacy" "$W/add-buildkit"
printf 'FROM acme/app\nADD https://registry-1.docker.io/v%%32/randomuser/tool/blobs/%s /tool.tar\n' "$tool_layer" \
    >"$W/add-legacy/Dockerfile"
cp "$W/add-legacy/Dockerfile" "$W/add-buildkit/Dockerfile"
expect_fail "" env DOCKER_BUILDKIT=0 /usr/bin/docker build -t e2e-add-legacy "$W/add-legacy"
check "the legacy build's ADD of the escaped blob URL produced no image" \
    bash -c "! dk image inspect e2e-add-legacy >/dev/null 2>&1"
expect_fail "" env DOCKER_BUILDKIT=1 /usr/bin/docker build -t e2e-add-buildkit "$W/add-buildkit"
check "the BuildKit build's ADD of the escaped blob URL produced no image" \
    bash -c "! dk image inspect e2e-add-buildkit >/dev/null 2>&1"
check "decision log: dockerd's GET /v%32/randomuser/tool/blobs/... denied at the gateway" \
    bash -c "grep -F '\"source\":\"gateway\"' '$W/decisions.jsonl' | grep -F 'GET /v%32/randomuser/tool/blobs/' | grep -qF '\"decision\":\"deny\"'"
expect_fail "" dk import "https://registry-1.docker.io/%76%32/randomuser/tool/blobs/$tool_layer" e2e-imported
check "docker import of the escaped blob URL produced no image" bash -c "! dk image inspect e2e-imported >/dev/null 2>&1"

# 5. A cross-repository mount whose from is hidden from a plain reading of the query.
mount_status() { # QUERY [CURL ARGS...]: the status of POST /v2/acme/stolen/blobs/uploads/QUERY
    local query=$1
    shift
    $GW -o /dev/null -w '%{http_code}' -X POST "$@" "https://registry-1.docker.io/v2/acme/stolen/blobs/uploads/$query"
}
for query in "?mount=$tool_layer&fr%6Fm=randomuser/tool" "?mount=$tool_layer&from=randomuser%2Ftool" \
    "?mount=$tool_layer&from=library/alpine&from=randomuser/tool"; do
    expect_output "403" mount_status "$query"
done
expect_output "403" mount_status "" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data "mount=$tool_layer&from=randomuser/tool"
expect_output "403" mount_status "" -H 'Content-Type: multipart/form-data; boundary=b' \
    --data-binary $'--b\r\nContent-Disposition: form-data; name="from"\r\n\r\nrandomuser/tool\r\n--b--\r\n'
# Content-Type spellings Go's mime.ParseMediaType reads as forms, found by the gateway's
# differential (docs/reading-requests.md): a trailing U+00A0, an İ that lower-cases to i.
expect_output "403" mount_status "" -H $'Content-Type: application/x-www-form-urlencoded\xc2\xa0' \
    --data "mount=$tool_layer&from=randomuser/tool"
expect_output "403" mount_status "" -H $'Content-Type: mult\xc4\xb0part/form-data; boundary=b' \
    --data-binary $'--b\r\nContent-Disposition: form-data; name="from"\r\n\r\nrandomuser/tool\r\n--b--\r\n'
check "the community layer was not mounted into acme/stolen" \
    bash -c "curl -s --cacert '$W/test-ca.pem' -o /dev/null -w '%{http_code}' -I '$REG/v2/acme/stolen/blobs/$tool_layer' | grep -q '^404$'"
alpine_layer=$(curl -sf --cacert "$W/test-ca.pem" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$REG/v2/library/alpine/manifests/latest" | jq -r '.layers[0].digest')
expect_output "201" mount_status "?mount=$alpine_layer&from=library/alpine"

# 7. A digest-pinned allowlist entry: its manifest, and the blobs that manifest names, pass.
reloads=$(grep -c 'reloaded policy' "$W/gateway.log")
sed "s|\"docker.io/someone/approved-tool\"|\"docker.io/someone/approved-tool\", \"docker.io/randomuser/tool@$tool_manifest\"|" \
    "$policy" >"$policy.new" && mv "$policy.new" "$policy"
check "the gateway reloads the policy with the pinned entry" \
    wait_until 15 bash -c "test \$(grep -c 'reloaded policy' '$W/gateway.log') -gt $reloads"
dk rmi -f randomuser/tool >/dev/null 2>&1
# Once, under heavy load from other suites on the same machine (ASan, 2 cores), the first pull
# was refused at its config blob and the cause was not found: a second try is allowed, and the
# first one's gateway decisions are printed for whoever finds it again.
pinned_pull() {
    dk pull "randomuser/tool@$tool_manifest" && return 0
    echo "gateway_test: the first pinned pull failed; the gateway's last decisions:" >&2
    grep -F 'randomuser/tool' "$W/decisions.jsonl" | tail -6 >&2
    sleep 1
    dk pull "randomuser/tool@$tool_manifest"
}
expect_ok pinned_pull
check "randomuser/tool@$tool_manifest is local" dk image inspect "randomuser/tool@$tool_manifest"
check "decision log: its blobs allowed as named by the allowed manifest" \
    bash -c "grep -F '\"source\":\"gateway\"' '$W/decisions.jsonl' | grep -F 'GET /v2/randomuser/tool/blobs/' | grep -F 'named by an allowed manifest of docker.io/randomuser/tool' | grep -qF '\"decision\":\"allow\"'"
dk rmi -f "randomuser/tool@$tool_manifest" >/dev/null 2>&1
expect_fail "Community images are restricted" dk pull randomuser/tool
mkdir -p "$W/pinned"
printf 'FROM randomuser/tool@%s\nLABEL built=1\n' "$tool_manifest" >"$W/pinned/Dockerfile"
expect_ok env DOCKER_BUILDKIT=1 /usr/bin/docker build -t e2e-pinned "$W/pinned"
alpine_config=$(curl -sf --cacert "$W/test-ca.pem" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$REG/v2/library/alpine/manifests/latest" | jq -r '.config.digest')
check "a blob the pinned manifest does not name is still refused" \
    bash -c "$GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io/v2/randomuser/tool/blobs/$alpine_config' | grep -q '^403$'"

# Review of the round: a revoked pin (same serial), other spellings of a route, a pinned from.
tool_config=$(curl -sf --cacert "$W/test-ca.pem" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "$REG/v2/randomuser/tool/manifests/latest" | jq -r '.config.digest')
check "while pinned, the pinned image's config passes (named by its manifest)" \
    bash -c "$GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io/v2/randomuser/tool/manifests/$tool_manifest' | grep -q '^200$' &&
             $GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io/v2/randomuser/tool/blobs/$tool_config' | grep -q '^200$'"
reloads=$(grep -c 'reloaded policy' "$W/gateway.log")
sed "s|, \"docker.io/randomuser/tool@$tool_manifest\"||" "$policy" >"$policy.new" && mv "$policy.new" "$policy"
check "the pin is revoked in a policy with the same serial" \
    wait_until 15 bash -c "test \$(grep -c 'reloaded policy' '$W/gateway.log') -gt $reloads"
check "what the revoked pin's manifest named is refused at once" \
    bash -c "$GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io/v2/randomuser/tool/blobs/$tool_config' | grep -q '^403$'"
for path in /v2/randomuser/tool/Manifests/latest /v2/randomuser/tool/tags/list/ /v2/randomuser/tool/_oci/x; do
    check "GET $path (no route the gateway decides) is refused" \
        bash -c "$GW -o /dev/null -w '%{http_code}' 'https://registry-1.docker.io$path' | grep -q '^403$'"
done
expect_output "403" mount_status "?mount=$tool_layer&from=randomuser/tool@$tool_manifest"

section "the CA key must be root's alone; the gateway down means no pulls"
stop_pid "$GW_PID" 10
chmod 0644 "$W/gateway-ca/ca.key"
expect_fail "ca.key: the gateway CA key has mode 0644" "$IMAGEGATE" gateway --config "$config"
chmod 0600 "$W/gateway-ca/ca.key"
dk rmi -f acme/app >/dev/null 2>&1
expect_fail "" dk pull acme/app
check "acme/app did not arrive around the stopped gateway" bash -c "! dk image inspect acme/app >/dev/null 2>&1"

e2e_finish
