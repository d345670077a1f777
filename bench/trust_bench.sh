#!/usr/bin/env bash
# Trust rules (issue 19): what a signature check adds to `POST /containers/create`. Root.
#
#     bash bench/trust_bench.sh [IMAGEGATE] [--kv FILE]
#
# A docker-registry on loopback serves as Docker Hub (dockerd's --registry-mirror and
# imagegate's signatureRegistries, plain HTTP); N images in it are signed by tests/signer (ECDSA
# P-256). One dockerd asks one imagegate; every create is timed by curl on dockerd's socket, and
# its container removed untimed. In one run, image by image:
#   none      the policy without a trust rule
#   uncached  the same policy plus a rule covering the images (SIGHUP): each image's first
#             create reads REPO:sha256-HEX.sig, the payload blob, and verifies
#   cached    its second create: the verdict comes from the cache
# and `none` once more after both (policy without the rule again), against drift.
# Medians over the N images; "added" is the difference to `none`. The registry is local: a real
# one adds its round trips (and TLS) to the uncached figure only.
# --kv appends `section=trust ...` lines to FILE (bench/run.sh's results).
# Environment: BENCH_QUICK=1 (5 images), BENCH_TRUST_IMAGES=N (default 25).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGEGATE_BIN=$ROOT/build/imagegate
KV=
while (($#)); do
    case $1 in
    --kv) KV=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) IMAGEGATE_BIN=$1; shift ;;
    esac
done
[[ -x $IMAGEGATE_BIN ]] || { echo "trust_bench: no imagegate binary at $IMAGEGATE_BIN" >&2; exit 2; }
IMAGEGATE_BIN=$(realpath "$IMAGEGATE_BIN")
N=${BENCH_TRUST_IMAGES:-25}
[[ ${BENCH_QUICK:-0} == 1 ]] && N=5

# The end-to-end harness starts and stops the registry, dockerd and imagegate.
source "$ROOT/tests/e2e/lib.sh" "$IMAGEGATE_BIN"
say() { printf '   %s\n' "$*" >&2; }
kv() { say "$*"; [[ -n $KV ]] && echo "section=trust $*" >>"$KV"; return 0; }

repos=()
for i in $(seq -w 1 "$N"); do repos+=("acme/bench$i"); done
setup_world "${repos[@]}" >&2

SIGNER="$E2E_TMP/imagegate-test-signer"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$(dirname "$IMAGEGATE_BIN")/go-cache" GOFLAGS= \
    go build -o "$SIGNER" "$ROOT/tests/signer/signer.go" || e2e_fatal "cannot build tests/signer"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$E2E_TMP/key.pem" 2>/dev/null &&
    openssl pkey -in "$E2E_TMP/key.pem" -pubout -out "$E2E_TMP/key.pub" 2>/dev/null || e2e_fatal "openssl"
for repo in "${repos[@]}"; do
    "$SIGNER" -insecure -key "$E2E_TMP/key.pem" -image "$REGISTRY/$repo@${IMAGE_DIGEST[$repo]}" \
        -identity "index.docker.io/$repo" >/dev/null || e2e_fatal "sign $repo"
done

policy="$E2E_TMP/policy.json"
write_policy() { # TRUST_JSON
    jq -n --argjson trust "$1" '{organization: "acme", serial: (if $trust == [] then 1 else 2 end),
        defaultRoles: ["Manager"], imageAccess: {enabled: false}, trust: $trust}' >"$policy.new" &&
        mv "$policy.new" "$policy"
}
write_policy '[]'
make_config "$E2E_TMP/config.base" "$policy"
jq --arg reg "http://$REGISTRY" '. + {signatureRegistries: {"docker.io": $reg}}' \
    "$E2E_TMP/config.base" >"$E2E_TMP/config.json"
start_imagegate --config "$E2E_TMP/config.json" >&2
restart_dockerd --authorization-plugin="$IG_NAME" >&2
for repo in "${repos[@]}"; do dk pull -q "$repo" >/dev/null || e2e_fatal "pull $repo"; done

# create REPO: prints the seconds a create took; removes the container.
create() {
    local out id
    out=$(curl -sS --unix-socket "$DOCKER_SOCK" -H 'Content-Type: application/json' \
        -d "{\"Image\":\"$1\",\"HostConfig\":{\"NetworkMode\":\"none\"}}" \
        -w '\n%{http_code} %{time_total}' http://docker/v1.41/containers/create) || return 1
    local status_time=${out##*$'\n'}
    [[ ${status_time%% *} == 201 ]] || { echo "create $1: ${out%$'\n'*}" >&2; return 1; }
    id=$(jq -r .Id <<<"${out%$'\n'*}")
    curl -sS --unix-socket "$DOCKER_SOCK" -X DELETE "http://docker/v1.41/containers/$id" >/dev/null
    echo "${status_time#* }"
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

for repo in "${repos[@]}"; do create "$repo" >/dev/null || e2e_fatal "warm-up create $repo"; done
: >"$E2E_TMP/none" >"$E2E_TMP/uncached" >"$E2E_TMP/cached"
for repo in "${repos[@]}"; do create "$repo" >>"$E2E_TMP/none" || e2e_fatal "create $repo"; done
write_policy "[{\"name\":\"bench\",\"repositories\":[\"docker.io/acme/*\"],\"keys\":[$(jq -Rs . "$E2E_TMP/key.pub")]}]"
kill -HUP "$IG_PID"
wait_until 10 grep -q "serial 2" "$IG_LOG" || e2e_fatal "imagegate did not reload the policy"
for repo in "${repos[@]}"; do
    create "$repo" >>"$E2E_TMP/uncached" || e2e_fatal "create $repo (uncached)"
    create "$repo" >>"$E2E_TMP/cached" || e2e_fatal "create $repo (cached)"
done
# `none` again after the trust passes, so that drift over the run (dockerd warming up) falls on
# both sides: the reference is the median of both `none` passes.
write_policy '[]'
jq '.serial = 3' "$policy" >"$policy.new" && mv "$policy.new" "$policy"
kill -HUP "$IG_PID"
wait_until 10 grep -q "serial 3" "$IG_LOG" || e2e_fatal "imagegate did not reload the policy"
for repo in "${repos[@]}"; do create "$repo" >>"$E2E_TMP/none" || e2e_fatal "create $repo"; done
verified=$(grep -c '"action":"image.run".*"trustRule":"bench","keyId":"SHA256:' "$IG_DECISION_LOG")
none=$(median <"$E2E_TMP/none")
uncached=$(median <"$E2E_TMP/uncached")
cached=$(median <"$E2E_TMP/cached")
us() { awk -v a="$1" -v b="${2:-0}" 'BEGIN{printf "%.0f", (a-b)*1e6}'; }
kv "test=create images=$N none_p50_us=$(us "$none") uncached_p50_us=$(us "$uncached") cached_p50_us=$(us "$cached") uncached_added_us=$(us "$uncached" "$none") cached_added_us=$(us "$cached" "$none") verified_runs=$verified"
((verified == 2 * N)) || e2e_fatal "expected $((2 * N)) verified runs in the decision log, found $verified"
pass "trust bench: $N images, medians none $(us "$none") us, uncached $(us "$uncached") us, cached $(us "$cached") us"
e2e_finish
