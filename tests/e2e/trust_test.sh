#!/usr/bin/env bash
# Trusted content (issue 19, docs/trust.md) end to end: images signed by an independent signer,
# tests/signer (Debian's sigstore library and go-containerregistry, not imagegate's code), in a
# real registry serving as Docker Hub; a real dockerd asking imagegate at containers/create; and
# `imagegate containerd-verify` exec'd as containerd would. Every way past a trust rule the
# issue names is tried: unsigned, wrongly signed, signed for another digest, re-tagged after
# signing, signed for another repository, payload with an extra field, a corrupted signature,
# a huge signature manifest, an image built here, and the registry down.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

repos=(acme/signed acme/unsigned acme/wrongkey acme/otherdigest acme/otherrepo acme/extra
    acme/corrupt acme/huge acme/retag acme/ed acme/rsa acme/late acme/appended
    pinned/app audited/app free/app)
setup_world "${repos[@]}"

# The signer: Debian's Go sources in GOPATH mode (scripts/deps.sh installs them).
SIGNER="$E2E_TMP/imagegate-test-signer"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$(dirname "$IMAGEGATE")/go-cache" GOFLAGS= \
    go build -o "$SIGNER" "$E2E_REPO_DIR/tests/signer/signer.go" ||
    e2e_fatal "cannot build tests/signer (needs golang-github-sigstore-sigstore-dev: scripts/deps.sh)"

keys="$E2E_TMP/keys"
mkdir -p "$keys"
newkey() { # NAME OPENSSL-GENPKEY-ARGS...
    local name=$1; shift
    openssl genpkey "$@" -out "$keys/$name.key" 2>/dev/null &&
        openssl pkey -in "$keys/$name.key" -pubout -out "$keys/$name.pub" 2>/dev/null ||
        e2e_fatal "openssl: key $name"
}
newkey ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
newkey other -algorithm EC -pkeyopt ec_paramgen_curve:P-256
newkey ed -algorithm ED25519
newkey rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048

# sign KEY REPO [SIGNER-OPTIONS...]: signs REPO's seeded digest in the registry, as
# docker.io/REPO (index.docker.io, as go-containerregistry names Docker Hub).
sign() {
    local key=$1 repo=$2; shift 2
    "$SIGNER" -insecure -key "$keys/$key.key" -image "$REGISTRY/$repo@${IMAGE_DIGEST[$repo]}" \
        -identity "index.docker.io/$repo" "$@" >/dev/null || e2e_fatal "sign $repo $*"
}
sign ec acme/signed
sign other acme/wrongkey
sign ec acme/otherdigest -payload-digest "${IMAGE_DIGEST[acme/unsigned]}"
sign ec acme/otherrepo -identity "index.docker.io/acme/signed"
sign ec acme/extra -extra
sign ec acme/corrupt -corrupt
sign ec acme/huge -copies 80
sign ec acme/retag
sign ed acme/ed
sign rsa acme/rsa
sign ec acme/late
sign other acme/appended
sign ec acme/appended -append # a second signature, by a key of the rule, after one that is not
sign ec pinned/app
sign ec audited/app -corrupt

# Re-tagged after signing: acme/retag:latest now names another image, pushed over it.
"$DOCKER_CLI" import -c 'CMD ["/bin/sh"]' -c "LABEL org.imagegate.e2e=retagged" \
    "$(make_rootfs_tar)" "$REGISTRY/acme/retag:latest" >/dev/null &&
    "$DOCKER_CLI" push -q "$REGISTRY/acme/retag:latest" >/dev/null &&
    "$DOCKER_CLI" rmi "$REGISTRY/acme/retag:latest" >/dev/null || e2e_fatal "re-tag acme/retag"

# Names an attacker gave acme/unsigned before the rule was in force (with it, `docker tag` of
# an image that may not run is refused, below): acme-ci/app:1, a repository no rule covers; and
# the same image pushed to mirror/unsigned, no rule either, to be pulled from there by digest.
"$DOCKER_CLI" pull -q acme/unsigned >/dev/null &&
    "$DOCKER_CLI" tag acme/unsigned acme-ci/app:1 &&
    "$DOCKER_CLI" tag acme/unsigned "$REGISTRY/mirror/unsigned:1" &&
    mirror_push=$("$DOCKER_CLI" push "$REGISTRY/mirror/unsigned:1" 2>&1) &&
    "$DOCKER_CLI" rmi "$REGISTRY/mirror/unsigned:1" >/dev/null || e2e_fatal "second names of acme/unsigned"
MIRROR_DIGEST=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$mirror_push" | tail -1)
[[ -n $MIRROR_DIGEST ]] || e2e_fatal "no digest for mirror/unsigned: $mirror_push"

pem() { jq -Rs . "$keys/$1.pub"; }
policy="$E2E_TMP/trust-policy.json"
cat >"$policy" <<EOF
{
  "organization": "acme",
  "serial": 19,
  "defaultRoles": ["Manager"],
  "imageAccess": {"enabled": false},
  "trust": [
    {"name": "pinned", "repositories": ["docker.io/pinned/*"], "keys": [$(pem ec)], "requireDigest": true},
    {"name": "audited", "repositories": ["docker.io/audited/*"], "keys": [$(pem ec)], "mode": "audit"},
    {"name": "acme-signed", "repositories": ["docker.io/acme/*"], "keys": [$(pem ec), $(pem ed), $(pem rsa)]}
  ]
}
EOF
config="$E2E_TMP/trust-config.json"
make_config "$config.base" "$policy"
jq --arg reg "http://$REGISTRY" '. + {signatureRegistries: {"docker.io": $reg}, signatureTimeoutSeconds: 5}' \
    "$config.base" >"$config"
expect_output "trust rule acme-signed: SHA256:" "$IMAGEGATE" policy lint "$policy"
expect_output "runs only with a cosign signature by one of its keys" "$IMAGEGATE" check --policy "$policy" --action image.run acme/app
expect_fail "trust rule pinned: it requires a digest" "$IMAGEGATE" check --policy "$policy" --action image.run pinned/app:1
start_imagegate --config "$config"
restart_dockerd --authorization-plugin="$IG_NAME"

run() { dk run --rm --network none "$@" true; }
for repo in "${repos[@]}"; do
    [[ $repo == pinned/* ]] && continue
    expect_ok dk pull -q "$repo"
done

section "a signed image runs; the decision log names the rule, the key and the digest"
expect_ok run acme/signed
check "the log line of the run has trustRule, keyId and digest" grep -q \
    "\"action\":\"image.run\",\"reference\":\"docker.io/acme/signed:latest\".*\"decision\":\"allow\".*\"digest\":\"${IMAGE_DIGEST[acme/signed]}\",\"trustRule\":\"acme-signed\",\"keyId\":\"SHA256:" \
    "$IG_DECISION_LOG"
expect_ok run "acme/signed@${IMAGE_DIGEST[acme/signed]}"
signed_id=$(dk image inspect -f '{{.Id}}' acme/signed)
expect_ok run "$signed_id"
expect_ok run acme/ed
expect_ok run acme/rsa
expect_ok run acme/appended

section "what is not signed by a key of the rule for this digest and repository is denied"
expect_denied 'trust rule acme-signed: docker.io/acme/unsigned@sha256:' run acme/unsigned
expect_message_has "no cosign signature" "sha256-${IMAGE_DIGEST[acme/unsigned]#sha256:}.sig does not exist"
expect_denied "trust rule acme-signed" run acme/wrongkey
expect_message_has "no signature verifies with a key of the rule"
expect_denied "trust rule acme-signed" run acme/otherdigest
expect_message_has "is for another digest, ${IMAGE_DIGEST[acme/unsigned]}"
expect_denied "trust rule acme-signed" run acme/otherrepo
expect_message_has "is for another repository, index.docker.io/acme/signed"
expect_denied "trust rule acme-signed" run acme/extra
expect_message_has 'unknown field "also"'
expect_denied "trust rule acme-signed" run acme/corrupt
expect_message_has "no signature verifies"
expect_denied "trust rule acme-signed" run acme/huge
expect_message_has "layers, more than 64"
expect_denied "trust rule acme-signed" run acme/retag
expect_message_has "no cosign signature"
# Other spellings dockerd reads as the same image, and an old API version.
expect_denied "trust rule acme-signed" run docker.io/acme/unsigned
expect_denied "trust rule acme-signed" run index.docker.io/acme/unsigned:latest
expect_api_denied "trust rule acme-signed" POST /v1.12/containers/create '{"Image":"acme/unsigned"}'
expect_api_denied "trust rule acme-signed" POST /v1.41/containers/create '{"image":"docker.io/acme/unsigned:latest"}'
unsigned_id=$(dk image inspect -f '{{.Id}}' acme/unsigned)
expect_denied "trust rule acme-signed" run "$unsigned_id"
expect_denied "trust rule acme-signed" run "${unsigned_id#sha256:}"

section "a second name does not take an image past the rules of its other names (issue 26)"
U=${IMAGE_DIGEST[acme/unsigned]}
expect_denied "run of docker.io/acme-ci/app:1 denied: trust rule acme-signed: the image is also named docker.io/acme/unsigned:latest: docker.io/acme/unsigned@$U" \
    run acme-ci/app:1
expect_message_has "no cosign signature"
expect_denied "trust rule acme-signed" dk create --network none acme-ci/app:1 true
expect_denied "trust rule acme-signed" run docker.io/acme-ci/app:1
expect_denied "trust rule acme-signed" run index.docker.io/acme-ci/app:1
expect_api_denied "trust rule acme-signed" POST /v1.12/containers/create '{"Image":"acme-ci/app:1"}'
expect_api_denied "trust rule acme-signed" POST /v1.41/containers/create '{"image":"docker.io/acme-ci/app:1"}'
expect_denied "trust rule acme-signed" run "${unsigned_id:7:12}"
expect_ok dk pull -q "mirror/unsigned@$MIRROR_DIGEST"
expect_denied "the image is also named docker.io/acme/unsigned:latest: docker.io/acme/unsigned@$U" \
    run "mirror/unsigned@$MIRROR_DIGEST"
check "the log line of the covered name: deny, cause trust, rule, digest" grep -q \
    "\"action\":\"image.run\",\"reference\":\"docker.io/acme/unsigned@$U\".*\"decision\":\"deny\".*\"cause\":\"trust\".*\"digest\":\"$U\",\"trustRule\":\"acme-signed\"" \
    "$IG_DECISION_LOG"

section "docker tag of an image that may not run is refused: no name without a covered one"
expect_denied "tag of docker.io/acme/unsigned:latest denied: trust rule acme-signed: docker.io/acme/unsigned@$U" \
    dk tag acme/unsigned launder/app:1
expect_denied "trust rule acme-signed" dk tag "$unsigned_id" launder/app:1
expect_denied "trust rule acme-signed" dk tag acme-ci/app:1 launder/app:1
expect_denied "trust rule acme-signed" dk tag acme/unsigned acme/signed:fake
expect_api_denied "trust rule acme-signed" POST "/v1.12/images/${unsigned_id}/tag?repo=launder/app&tag=1"
check "launder/app:1 was not created" bash -c "! $(printf '%q' "$DOCKER_CLI") image inspect launder/app:1 >/dev/null 2>&1"

section "a signed image with an extra local tag still runs"
S=${IMAGE_DIGEST[acme/signed]}
expect_ok dk tag acme/signed mine/signed:extra
expect_ok run mine/signed:extra
check "its log line names the signed digest, the rule and the key" grep -q \
    "\"action\":\"image.run\",\"reference\":\"docker.io/acme/signed@$S\".*\"decision\":\"allow\".*\"digest\":\"$S\",\"trustRule\":\"acme-signed\",\"keyId\":\"SHA256:" \
    "$IG_DECISION_LOG"
expect_ok run acme/signed

section "a name that was not pulled from the repository has no digest a signature could name"
expect_ok dk tag free/app acme/signed:free-image
expect_denied "the local image was not pulled from docker.io/acme/signed" run acme/signed:free-image
# That name is the image's, whatever name runs it: until it is removed.
expect_denied "the image is also named docker.io/acme/signed:free-image" run free/app
expect_ok dk rmi acme/signed:free-image
expect_ok run free/app
"$DOCKER_CLI" import -c 'CMD ["/bin/sh"]' "$(make_rootfs_tar)" acme/built:1 >/dev/null 2>&1
expect_denied "the local image was not pulled from docker.io/acme/built" run acme/built:1

section "requireDigest: tags refused, digests allowed when signed"
expect_denied "trust rule pinned requires a digest" dk pull -q pinned/app
expect_ok dk pull -q "pinned/app@${IMAGE_DIGEST[pinned/app]}"
expect_ok run "pinned/app@${IMAGE_DIGEST[pinned/app]}"
expect_ok dk tag "pinned/app@${IMAGE_DIGEST[pinned/app]}" pinned/app:v1
expect_denied "trust rule pinned: it requires a digest" run pinned/app:v1
expect_ok dk tag "pinned/app@${IMAGE_DIGEST[pinned/app]}" mine/pinned:v1
expect_denied "its rule requires a digest" run mine/pinned:v1
expect_ok run "$(dk image inspect -f '{{.Id}}' mine/pinned:v1)"

section "a rule in audit mode logs its would-be denial and allows"
expect_ok run audited/app
check "the audit line: deny, mode audit, cause trust, rule audited" grep -q \
    '"action":"image.run","reference":"docker.io/audited/app:latest".*"decision":"deny".*"mode":"audit".*"cause":"trust".*"trustRule":"audited"' \
    "$IG_DECISION_LOG"

section "report and policy impact show trust decisions"
expect_output "TRUST RULE" "$IMAGEGATE" report --log "$IG_DECISION_LOG"
expect_message_has "acme-signed" "SIGNED BY KEY" "SHA256:"
report_json() { "$IMAGEGATE" report --json --log "$IG_DECISION_LOG"; }
check "report --json: acme-signed denied runs, audited would deny" bash -c \
    "$(declare -f report_json); report_json | jq -e '
        ([.byTrustRule[] | select(.trustRule == \"acme-signed\") | .denied] | .[0] >= 10) and
        ([.byTrustRule[] | select(.trustRule == \"audited\") | .wouldDeny] | .[0] >= 1)'"
# The rule keeps only the Ed25519 key: runs verified by the ECDSA key would break.
jq '.serial = 20 | .trust[2].keys = [.trust[2].keys[1]]' "$policy" >"$E2E_TMP/new-policy.json"
impact() { "$IMAGEGATE" policy impact "$E2E_TMP/new-policy.json" --log "$IG_DECISION_LOG" --json; }
check "impact: runs of acme/signed would break, acme/ed's would not" bash -c \
    "$(declare -f impact); impact | jq -e '
        ([.allowToDeny.references[].reference] | index(\"docker.io/acme/signed:latest\")) != null and
        ([.allowToDeny.references[].reference] | index(\"docker.io/acme/ed:latest\")) == null and
        ([.allowToDeny.references[] | select(.reference == \"docker.io/acme/signed:latest\") | .reason][0]
            | contains(\"trust rule acme-signed\"))'"
check "impact: trust denials (runs and tags of acme/unsigned) stay denied; the ECDSA-verified digest breaks" bash -c \
    "$(declare -f impact); impact | jq -e --arg s 'docker.io/acme/signed@${IMAGE_DIGEST[acme/signed]}' '
        ([.allowToDeny.references[].reference] | index(\$s)) != null and
        ([.denyToAllow.references[].reference | select(contains(\"acme/unsigned\"))] | length) == 0'"

section "containerd-verify decides the digest containerd is about to unpack"
verify() { # NAME DIGEST
    local d="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$2\",\"size\":500}"
    "$IMAGEGATE" containerd-verify --config "$IG_CONFIG" -name "$1" -digest "$2" \
        -stdin-media-type application/vnd.oci.descriptor.v1+json <<<"$d"
}
expect_output "allowed pull of docker.io/acme/signed:latest" verify docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
expect_fail "trust rule acme-signed" verify docker.io/acme/unsigned:latest "${IMAGE_DIGEST[acme/unsigned]}"
expect_fail "is for another digest" verify docker.io/acme/otherdigest:latest "${IMAGE_DIGEST[acme/otherdigest]}"
expect_fail "no signature verifies" verify docker.io/acme/wrongkey:latest "${IMAGE_DIGEST[acme/wrongkey]}"
expect_fail "requires a digest" verify docker.io/pinned/app:latest "${IMAGE_DIGEST[pinned/app]}"
expect_output "allowed pull" verify "docker.io/pinned/app@${IMAGE_DIGEST[pinned/app]}" "${IMAGE_DIGEST[pinned/app]}"
LEAN="$(dirname "$IMAGEGATE")/imagegate-containerd-verify"
verify_lean() { # NAME DIGEST: the lean verifier hands a covered pull to imagegate containerd-verify
    local d="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$2\",\"size\":500}"
    "$LEAN" --config "$IG_CONFIG" -name "$1" -digest "$2" \
        -stdin-media-type application/vnd.oci.descriptor.v1+json <<<"$d"
}
if [[ -x $LEAN ]]; then
    expect_output "allowed pull of docker.io/acme/signed:latest" verify_lean docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
    expect_fail "no signature verifies" verify_lean docker.io/acme/wrongkey:latest "${IMAGE_DIGEST[acme/wrongkey]}"
    expect_output "allowed pull of docker.io/free/app:latest" verify_lean docker.io/free/app:latest "${IMAGE_DIGEST[free/app]}"
fi
check "containerd's line has trustRule and keyId" grep -q \
    "\"source\":\"containerd\".*\"digest\":\"${IMAGE_DIGEST[acme/signed]}\",\"trustRule\":\"acme-signed\",\"keyId\":\"SHA256:" \
    "$IG_DECISION_LOG"

section "registry credentials must be root's alone"
echo '{"auths":{"docker.io":{"auth":"dXNlcjpwYXNz"}}}' >"$E2E_TMP/creds.json"
chmod 0644 "$E2E_TMP/creds.json"
jq --arg c "$E2E_TMP/creds.json" '. + {registryCredentials: $c}' "$IG_CONFIG" >"$E2E_TMP/creds-config.json"
verify_with() { # CONFIG NAME DIGEST
    local d="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$3\",\"size\":500}"
    "$IMAGEGATE" containerd-verify --config "$1" -name "$2" -digest "$3" \
        -stdin-media-type application/vnd.oci.descriptor.v1+json <<<"$d"
}
expect_fail "must be readable by root only" verify_with "$E2E_TMP/creds-config.json" docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
chmod 0600 "$E2E_TMP/creds.json"
expect_output "allowed pull" verify_with "$E2E_TMP/creds-config.json" docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"

section "an HTTPS registry with basic auth: certs.d trust and imagegate's own credentials"
# A second docker-registry on the same storage: TLS (a certificate for 127.0.0.1) and htpasswd.
tls="$E2E_TMP/tls-registry"
mkdir -p "$tls"
TLS_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null ||
    e2e_fatal "openssl: registry certificate"
python3 -W ignore -c 'import crypt; print("signer:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    >"$tls/htpasswd" || e2e_fatal "htpasswd"
cat >"$tls/config.yml" <<REGEOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $E2E_TMP/registry/data
http:
  addr: 127.0.0.1:$TLS_PORT
  secret: imagegate-e2e-tls-$$
  tls:
    certificate: $tls/cert.pem
    key: $tls/key.pem
auth:
  htpasswd:
    realm: imagegate-e2e
    path: $tls/htpasswd
REGEOF
docker-registry serve "$tls/config.yml" >"$tls/log" 2>&1 &
E2E_REGISTRY_PIDS+=("$!")
wait_until 20 curl -sS --cacert "$tls/cert.pem" -o /dev/null "https://127.0.0.1:$TLS_PORT/v2/" ||
    e2e_fatal "the TLS registry did not answer"
mkdir -p "$tls/certs.d/127.0.0.1:$TLS_PORT"
cp "$tls/cert.pem" "$tls/certs.d/127.0.0.1:$TLS_PORT/ca.crt"
echo "{\"auths\":{\"docker.io\":{\"username\":\"signer\",\"password\":\"s3cret\"}}}" >"$tls/creds.json"
chmod 0600 "$tls/creds.json"
tls_config() { # CERTS_DIR [CREDENTIALS]
    jq --arg url "https://127.0.0.1:$TLS_PORT" --arg certs "$1" --arg creds "${2:-}" \
        '. + {signatureRegistries: {"docker.io": $url}, registryCertsDir: $certs}
         + (if $creds == "" then {} else {registryCredentials: $creds} end)' "$IG_CONFIG"
}
tls_config "$tls/certs.d" "$tls/creds.json" >"$tls/ok.json"
tls_config "$tls/certs.d" >"$tls/anonymous.json"
tls_config "$tls/nowhere" "$tls/creds.json" >"$tls/untrusted.json"
expect_output "allowed pull of docker.io/acme/signed:latest" verify_with "$tls/ok.json" docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
expect_fail "no signature verifies" verify_with "$tls/ok.json" docker.io/acme/wrongkey:latest "${IMAGE_DIGEST[acme/wrongkey]}"
expect_fail "registryCredentials has none for it" verify_with "$tls/anonymous.json" docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
expect_fail "cannot check its signature" verify_with "$tls/untrusted.json" docker.io/acme/signed:latest "${IMAGE_DIGEST[acme/signed]}"
expect_message_has "TLS certificate does not verify" "$tls/nowhere/127.0.0.1:$TLS_PORT/*.crt"

section "the registry down: denied, fail closed; a cached verdict still answers"
stop_pid "$REGISTRY_PID" 10
expect_denied "cannot check its signature" run acme/late
expect_ok run acme/signed
expect_fail "cannot check its signature" verify docker.io/acme/late:latest "${IMAGE_DIGEST[acme/late]}"

e2e_finish
