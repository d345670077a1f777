#!/usr/bin/env bash
# The core end-to-end suite (issue 2): Image Access Management by Docker Hub category,
# Registry Access Management, reference handling and the shipped default policy, through a
# real dockerd that pulls "Docker Hub" from a local docker-registry mirror.
#
#     bash tests/e2e/core_test.sh build/imagegate
#
# rows of the README's "What it decides" table it exercises through dockerd: image.pull (images/create: fromImage with and
# without tag, tag as digest; plugins/pull), image.run (containers/create, also the pull
# `docker run` does on a miss), image.push, image.tag (source and target), image.delete,
# image.inspect, image.list, other (ps, version, info, networks, volumes).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# use_imagegate START_IMAGEGATE_ARGS...: stops the imagegate in use, starts another one and
# restarts dockerd with it as its only authorization plugin.
use_imagegate() {
    [[ -n ${IG_PID:-} ]] && stop_imagegate "$IG_PID"
    start_imagegate "$@"
    restart_dockerd --authorization-plugin="$IG_NAME"
}

# enc STRING: percent-encodes STRING for a query value (every byte but unreserved ones).
enc() { jq -rn --arg v "$1" '$v | @uri'; }

section "setup: registry, images, dockerd without a plugin"
setup_world
# Images tagged locally under restricted names while no plugin is active: a user who has
# them must still not run them.
seed_local_tag someone/tool someone/tool someone/mine:1
seed_local_tag curlimages/curl curlimages/curl
seed_local_tag acme/app "$REGISTRY_ALT/acme/app:local"
TOOL_ID=$("$DOCKER_CLI" image inspect -f '{{.Id}}' someone/tool) || e2e_fatal "no someone/tool"
ALPINE_DIGEST=${IMAGE_DIGEST[library/alpine]}
TOOL_DIGEST=${IMAGE_DIGEST[someone/tool]}
CURL_DIGEST=${IMAGE_DIGEST[curlimages/curl]}
ACME_POLICY="$E2E_TMP/acme-policy.json"
policy_from_template "$E2E_FIXTURES/acme-policy.json" "$ACME_POLICY"

# -----------------------------------------------------------------------------------------
section "acme policy (serve --policy FILE --socket SOCK)"
use_imagegate "$ACME_POLICY"

section "docker run pulls what it lacks: the pull is checked too"
expect_ok dk run --rm --network none busybox true
expect_denied "Sponsored" dk run --rm --network none curlimages/curl:8 true

section "Image Access Management: docker pull by category"
expect_ok dk pull alpine                                   # Docker Official
expect_ok dk pull docker.io/library/busybox:latest        # Docker Official, fully qualified
expect_ok dk pull bitnami/redis                           # Verified Publisher
expect_ok dk pull grafana/grafana:latest                  # Verified Publisher
expect_ok dk pull acme/app                                # Organization
expect_denied "Community" dk pull someone/tool            # Community: always restricted
expect_message_has "docker.io/someone/tool:latest" "Community" "acme" "42" "imagegate"
expect_denied "Sponsored" dk pull curlimages/curl         # Sponsored OSS: restricted here
expect_message_has "docker.io/curlimages/curl:latest" "acme"
expect_ok dk pull docker.io/someone/approved-tool         # Community, but allowlisted
expect_denied "Community" dk pull someone/approved-tool-2 # the allowlist is exact
expect_denied "Community" dk pull someone/tool:other-tag
expect_denied "Community" dk pull index.docker.io/someone/tool
expect_ok dk pull index.docker.io/library/alpine

section "pulls by digest"
expect_ok dk pull "alpine@$ALPINE_DIGEST"
expect_ok dk pull "docker.io/library/alpine@$ALPINE_DIGEST"
expect_denied "Community" dk pull "someone/tool@$TOOL_DIGEST"
expect_denied "curlimages/curl" dk pull "curlimages/curl@$CURL_DIGEST"

section "the newer docker CLI (sends fully qualified names)"
expect_ok dk_new pull busybox
expect_ok dk_new pull "alpine@$ALPINE_DIGEST"
expect_denied "Community" dk_new pull someone/tool
expect_denied "Community" dk_new run --rm --network none someone/tool true

section "Registry Access Management"
expect_ok dk pull "$REGISTRY/acme/app"                    # allowed registry
expect_ok dk pull "$REGISTRY/someone/tool"                # categories are for docker.io only
expect_denied "$REGISTRY_ALT" dk pull "$REGISTRY_ALT/acme/app"  # same registry, other name
expect_denied "quay.io" dk pull quay.io/acme/app
expect_denied "" dk pull "LOCALHOST:$REGISTRY_PORT/acme/app"
# Registry names match case-insensitively: allowed, so dockerd tries (and fails, offline).
expect_not_denied dk pull REGISTRY.ACME.EXAMPLE:5000/acme/app

section "docker run"
expect_ok dk run --rm --network none alpine true
expect_ok dk run --rm --network none acme/app sh -c 'echo hello from acme/app'
expect_ok dk run --rm --network none "$REGISTRY/someone/tool" true
expect_denied "Community" dk run --rm --network none someone/tool true   # tagged locally
expect_message_has "docker.io/someone/tool:latest"
expect_denied "Community" dk run --rm --network none someone/mine:1 true
expect_denied "Sponsored" dk run --rm --network none curlimages/curl true
expect_denied "$REGISTRY_ALT" dk run --rm --network none "$REGISTRY_ALT/acme/app:local" true
expect_denied "Community" dk run --rm --network none "someone/tool@$TOOL_DIGEST" true
expect_denied "Community" dk create --network none someone/tool
# An image ID names no registry image: imagegate resolves it to the image's names
# (someone/tool, someone/mine), or denies when it cannot.
expect_denied "" dk run --rm --network none "$TOOL_ID" true
expect_denied "" dk run --rm --network none "${TOOL_ID#sha256:}" true
expect_denied "" dk run --rm --network none "${TOOL_ID:7:12}" true
expect_api_denied "" POST /v1.41/containers/create "{\"Image\":\"$TOOL_ID\"}"
expect_ok dk create --name acme-created --network none alpine true
expect_ok dk start -a acme-created
expect_ok dk rm acme-created

section "docker tag and docker push"
expect_ok dk tag alpine acme/newapp:1                       # target in an org namespace
expect_denied "someone" dk tag alpine someone/mine:2        # namespace access control
expect_denied "Community" dk tag someone/tool acme/copied:1 # the source is checked as a pull
expect_ok dk tag alpine "$REGISTRY/acme/pushed:1"
expect_ok dk push "$REGISTRY/acme/pushed:1"
expect_ok dk tag someone/approved-tool "$REGISTRY/someone/pushed:1"
expect_ok dk push "$REGISTRY/someone/pushed:1"              # namespace access is for docker.io
expect_denied "$REGISTRY_ALT" dk tag alpine "$REGISTRY_ALT/acme/pushed:1"
expect_denied "$REGISTRY_ALT" dk push "$REGISTRY_ALT/acme/app:local"
expect_denied "someone" dk push someone/mine:1               # personal Docker Hub namespace
expect_denied "someone" dk push someone/tool
expect_not_denied dk push acme/newapp:1                      # allowed; Docker Hub is offline

section "other image actions and everything else"
expect_ok dk images
expect_ok dk image inspect alpine
expect_ok dk image inspect someone/tool    # inspecting is not governed by categories
expect_ok dk image inspect "$TOOL_ID"      # image IDs are not references, but valid here
expect_ok dk image inspect "${TOOL_ID#sha256:}"
# imagegate may ask dockerd about an image while deciding; that must not feed back into
# more requests (each of which dockerd sends to imagegate again).
before=$(wc -l <"$IG_DECISION_LOG")
dk image inspect -f '{{.Id}}' "$TOOL_ID" >/dev/null 2>&1
dk run --rm --network none "$TOOL_ID" true >/dev/null 2>&1
sleep 2
after=$(wc -l <"$IG_DECISION_LOG")
check "two docker commands on an image ID make at most 10 decisions (made $((after - before)))" \
    test $((after - before)) -le 10
expect_ok dk history alpine
expect_ok dk rmi acme/newapp:1
expect_ok dk ps -a
expect_ok dk version
expect_ok dk info
expect_ok dk network ls
expect_ok dk volume ls
expect_ok dk_new ps

section "invalid references are denied, quoting them (raw API: the CLI rejects them itself)"
expect_api_denied "acme/App" POST "/v1.41/images/create?fromImage=acme%2FApp&tag=latest"
expect_api_denied "acme//app" POST "/v1.41/images/create?fromImage=acme%2F%2Fapp"
expect_api_denied "-bad" POST "/v1.41/images/create?fromImage=alpine&tag=-bad"
long=$(printf 'a%.0s' {1..256})
expect_api_denied "" POST "/v1.41/images/create?fromImage=acme%2F$long"
expect_api_denied "acme//app" POST /v1.41/containers/create '{"Image":"acme//app"}'
expect_api_denied "UPPER" POST /v1.41/containers/create '{"Image":"acme/UPPER:1"}'

section "raw Engine API requests: encodings, version prefixes, parameter order"
expect_api_status 200 POST "/v1.41/images/create?fromImage=alpine&tag=latest"
expect_api_status 200 POST "/images/create?tag=latest&fromImage=docker.io%2Flibrary%2Falpine"
expect_api_status 200 POST "/v1.24/images/create?fromImage=docker.io%2Flibrary%2Falpine%3Alatest"
expect_api_status 200 POST "/v1.41/images/create?fromImage=alpine&tag=$(enc "$ALPINE_DIGEST")"
expect_api_status 200 POST "/v1.41/images/create?fromImage=$(enc "$REGISTRY/acme/app")&tag=latest"
expect_api_denied "Community" POST "/v1.41/images/create?fromImage=someone%2Ftool&tag=latest"
expect_api_denied "Community" POST "/images/create?tag=latest&fromImage=someone/tool"
expect_api_denied "Community" POST "/v1.24/images/create?fromImage=docker.io%2Fsomeone%2Ftool%3Alatest"
expect_api_denied "Community" POST "/v1.41/images/create?fromImage=someone%2Ftool&tag=$(enc "$TOOL_DIGEST")"
expect_api_denied "Community" POST "/v1.41/images/create?fromImage=someone%2Ftool%40$(enc "$TOOL_DIGEST")"
expect_api_denied "Community" POST "/v1.41/images/create?from%49mage=someone%2Ftool"
# dockerd reads the first value; imagegate may refuse the ambiguity outright.
expect_api_denied "" POST "/v1.41/images/create?fromImage=someone%2Ftool&fromImage=alpine"
expect_api_denied "Community" POST "/v1.41/images/create?fromImage=index.docker.io%2Fsomeone%2Ftool"
expect_api_denied "Community" POST "/v1.41/images/create?fromImage=registry-1.docker.io%2Fsomeone%2Ftool"
expect_api_not_denied POST "/v1.41/images/create?fromImage=registry-1.docker.io%2Flibrary%2Falpine"
expect_api_denied "Sponsored" POST "/v1.41/images/create?fromImage=curlimages%2Fcurl&tag=latest"
expect_api_denied "$REGISTRY_ALT" POST "/v1.41/images/create?fromImage=$(enc "$REGISTRY_ALT/acme/app")"
expect_api_denied "Community" POST /v1.41/containers/create '{"Image":"someone/tool","HostConfig":{"NetworkMode":"none"}}'
expect_api_denied "Community" POST /containers/create '{"image":"someone/tool"}'
expect_api_status 201 POST /v1.41/containers/create '{"Image":"alpine","HostConfig":{"NetworkMode":"none"}}'
created=$(jq -r '.Id // empty' <<<"$API_BODY")
[[ -n $created ]] && expect_api_status 204 DELETE "/v1.41/containers/$created"
expect_api_denied "someone" POST "/v1.41/images/someone%2Ftool/push?tag=latest"
expect_api_denied "someone" POST "/v1.41/images/alpine/tag?repo=someone%2Fx&tag=1"
expect_api_denied "Community" POST "/v1.41/images/someone%2Ftool/tag?repo=acme%2Fx&tag=1"
expect_api_denied "Community" POST "/v1.41/plugins/pull?remote=someone%2Fplugin&name=someone-plugin" '[]'
expect_api_status 200 GET /v1.41/version
expect_api_status 200 GET /_ping

section "imagegate check agrees with serve"
expect_output "allow" "$IMAGEGATE" check --policy "$ACME_POLICY" alpine
expect_fail "deny" "$IMAGEGATE" check --policy "$ACME_POLICY" someone/tool
expect_message_has "docker.io/someone/tool:latest"
expect_fail "$REGISTRY_ALT" "$IMAGEGATE" check --policy "$ACME_POLICY" "$REGISTRY_ALT/acme/app"

# -----------------------------------------------------------------------------------------
section "the shipped default policy (serve --config with no policy source)"
DEFAULT_CONFIG="$E2E_TMP/default-config.json"
make_config "$DEFAULT_CONFIG"
use_imagegate --config "$DEFAULT_CONFIG"
expect_ok dk pull alpine
expect_ok dk run --rm --network none alpine true
expect_denied "Community" dk pull someone/tool
expect_denied "Community" dk run --rm --network none someone/tool true
expect_denied "Community" dk pull acme/app                 # no organization namespaces
expect_ok dk pull "$REGISTRY_ALT/acme/app"                 # Registry Access Management off
expect_ok dk pull "$REGISTRY/someone/tool"
expect_ok dk ps
# Verified Publisher images are allowed; which namespaces are verified is the shipped list's
# business: serve must agree with check on it.
for ref in bitnami/redis grafana/grafana curlimages/curl; do
    if "$IMAGEGATE" check --config "$IG_CONFIG" "$ref" >/dev/null 2>&1; then
        expect_ok dk pull "$ref"
    else
        expect_denied "" dk pull "$ref"
    fi
done

section "the decision log (JSON lines, README)"
check "decision log $IG_DECISION_LOG exists and is not empty" test -s "$IG_DECISION_LOG"
check "every line is a JSON object" jq -e -s 'length > 0 and all(type == "object")' "$IG_DECISION_LOG"
deny_line=$(jq -c 'select(.reference == "docker.io/someone/tool:latest" and .decision == "deny"
    and .action == "image.pull")' "$IG_DECISION_LOG" 2>/dev/null | tail -1)
check "the denied pull of someone/tool is logged" test -n "$deny_line"
check "... with every documented key" jq -e '
    [has("time","user","action","reference","category","registry","decision","reason",
         "organization","policySerial","mode","source")] | all' <<<"${deny_line:-{\}}"
check "... from dockerd, time in RFC 3339 UTC" jq -e '.source == "dockerd" and
    (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$"))' <<<"${deny_line:-{\}}"
check "the allowed pull of alpine is logged" jq -e -s 'any(.[]; .reference ==
    "docker.io/library/alpine:latest" and .decision == "allow")' "$IG_DECISION_LOG"

# -----------------------------------------------------------------------------------------
if [[ ! -e /etc/imagegate/imagegate.json ]]; then
    section "the shipped default policy (plain serve --socket SOCK, no configuration on this host)"
    use_imagegate --bare
    expect_ok dk pull busybox
    expect_denied "Community" dk pull someone/tool
else
    section "skipped: plain serve (this host has /etc/imagegate/imagegate.json)"
fi

# -----------------------------------------------------------------------------------------
section "fail closed: a policy that is not JSON"
stop_imagegate "$IG_PID"
BROKEN_POLICY="$E2E_TMP/broken-policy.json"
cp "$E2E_FIXTURES/broken-policy.json" "$BROKEN_POLICY"
if try_start_imagegate "$BROKEN_POLICY"; then
    # It serves: every image action must be denied, the rest may go on.
    restart_dockerd --authorization-plugin="$IG_NAME"
    expect_denied "" dk pull alpine
    expect_denied "" dk run --rm --network none alpine true
    expect_ok dk ps
else
    # It refused to start: that is fail-closed too (dockerd cannot start with it), if it said
    # why, naming the file.
    wait "$IG_PID"
    status=$?
    check "imagegate serve with a broken policy exits non-zero (status $status)" test "$status" -ne 0
    check "... naming the policy file" grep -qF "$BROKEN_POLICY" "$IG_LOG"
fi

e2e_finish
