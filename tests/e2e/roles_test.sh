#!/usr/bin/env bash
# Identity, teams and roles (issue 3) through a real dockerd listening on TLS with --tlsverify:
# the user is the CN of the client certificate, as dockerd passes it to the plugin.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_world library/alpine someone/tool acme/app

# Certificates: a CA, a server certificate for 127.0.0.1, one client certificate per user.
pki="$E2E_TMP/pki"
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=imagegate-e2e-ca \
    -keyout "$pki/ca-key.pem" -out "$pki/ca.pem" 2>/dev/null || e2e_fatal "openssl: CA"
issue_cert() { # NAME CN EXT
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$pki/$1-key.pem" -out "$pki/$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca-key.pem" -CAcreateserial \
            -days 1 -extfile <(printf '%s\n' "$3") -out "$pki/$1.pem" 2>/dev/null || e2e_fatal "openssl: $1"
}
issue_cert server 127.0.0.1 "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
for user in alice bob ci-runner mallory; do issue_cert "$user" "$user" "extendedKeyUsage=clientAuth"; done

TLS_PORT=$(free_port)
# as USER CMD...: runs the docker CLI over TLS with USER's client certificate.
as() {
    local user=$1; shift
    "$DOCKER_CLI" --tlsverify --tlscacert "$pki/ca.pem" --tlscert "$pki/$user.pem" --tlskey "$pki/$user-key.pem" \
        -H "tcp://127.0.0.1:$TLS_PORT" "$@"
}

# A local image only the socket's Manager role could have tagged, for the push checks.
dk pull -q "$REGISTRY/acme/app" >/dev/null || e2e_fatal "pull acme/app"
dk tag "$REGISTRY/acme/app" "$REGISTRY/acme/app:ci"
dk tag "$REGISTRY/acme/app" "$REGISTRY/other/app:ci"
dk tag "$REGISTRY/acme/app" "$REGISTRY/acme/app:doomed"

policy="$E2E_TMP/roles-policy.json"
policy_from_template "$E2E_FIXTURES/roles/policy.json" "$policy.tmpl"
sed 's/@REQUIRE_SIGN_IN@/false/' "$policy.tmpl" >"$policy"
start_imagegate "$policy"
restart_dockerd --authorization-plugin="$IG_NAME" -H "tcp://127.0.0.1:$TLS_PORT" --tlsverify \
    --tlscacert "$pki/ca.pem" --tlscert "$pki/server.pem" --tlskey "$pki/server-key.pem"

section "owners are not restricted by Image Access Management"
expect_ok as alice pull -q someone/tool
expect_denied "Community images are restricted by acme's Image Access Management" as bob pull -q someone/tool
expect_ok as bob pull -q alpine

section "a Reader cannot push or delete"
expect_denied "bob has no Writer or Manager grant on it (acme policy 7)" as bob push "$REGISTRY/acme/app:ci"
expect_denied "bob has no Writer or Manager grant" as bob rmi "$REGISTRY/acme/app:doomed"
expect_denied "bob has no Writer or Manager grant" as bob tag alpine "$REGISTRY/acme/new:1"
expect_ok as bob image inspect alpine

section "a service ID pushes only inside its resource group"
expect_ok as ci-runner push "$REGISTRY/acme/app:ci"
expect_denied "ci-runner has no Writer or Manager grant on it (acme policy 7)" as ci-runner push "$REGISTRY/other/app:ci"
expect_denied "ci-runner has no Reader, Writer or Manager grant" as ci-runner pull -q alpine
expect_denied "ci-runner has no Reader or Manager grant" as ci-runner image inspect "$REGISTRY/acme/app:ci"
expect_ok as ci-runner rmi "$REGISTRY/acme/app:doomed"

section "an authenticated user with no grant is denied"
expect_denied "mallory has no Reader, Writer or Manager grant on it (acme policy 7)" as mallory pull -q alpine
expect_denied "mallory has no Reader or Manager grant" as mallory images
expect_ok as mallory ps

section "the local socket gets defaultRoles"
expect_ok dk pull -q acme/app
expect_denied "Community images are restricted" dk pull -q someone/tool
expect_ok dk push "$REGISTRY/acme/app:ci"

section "the decision log names the user"
check "the log names ci-runner's push" grep -q '"user":"ci-runner","action":"image.push"' "$IG_DECISION_LOG"
check "the log names mallory's denial" grep -q '"user":"mallory","action":"image.pull".*"decision":"deny"' "$IG_DECISION_LOG"

section "requireSignIn denies the Unix socket and allows a TLS client"
sed 's/@REQUIRE_SIGN_IN@/true/' "$policy.tmpl" >"$policy.new" && mv "$policy.new" "$policy"
kill -HUP "$IG_PID"
wait_until 10 grep -q "reloaded policy: acme serial 7" "$IG_LOG" || true
expect_denied "requires signing in" dk version
expect_denied "requires signing in" dk pull -q alpine
expect_ok as bob pull -q alpine
expect_ok as alice version

e2e_finish
