#!/usr/bin/env bash
# docs/containerd.md end to end: `imagegate containerd-verify` as containerd's bindir image verifier
# drives it (pkg/imageverifier/bindir/bindir.go): the executable in bin_dir is exec'd with
#   -name REF -digest DIGEST -stdin-media-type application/vnd.oci.descriptor.v1+json
# and the image's OCI descriptor as JSON on standard input; exit 0 allows the pull, anything
# else blocks it, and standard output is the reason containerd shows.
#
#     bash tests/e2e/containerd_verify_test.sh [build/imagegate]
#
# Debian bookworm's containerd (1.6) has no verifier hook, so nothing here needs containerd
# or dockerd: every case execs the verifier through a two-line wrapper in a bin_dir, exactly
# as containerd would, and checks the exit status, the reason line and the decision log.
# Prints `N passed, N failed` last; exits non-zero if anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMAGEGATE=${1:-${IMAGEGATE:-$REPO/build/imagegate}}
case $IMAGEGATE in /*) ;; *) IMAGEGATE="$PWD/$IMAGEGATE" ;; esac
[[ -x $IMAGEGATE ]] || { echo "containerd_verify_test: no imagegate binary at $IMAGEGATE" >&2; exit 2; }
for tool in jq sha256sum; do
    command -v $tool >/dev/null || { echo "containerd_verify_test: $tool is missing" >&2; exit 2; }
done

# Two executables answer containerd: `imagegate containerd-verify`, and
# imagegate-containerd-verify (built next to imagegate), which decides from the compact policy
# and hands everything else to the former. Without VERIFY_ENTRY, the suite runs once through
# each entry point that exists and adds up.
LEAN="$(dirname "$IMAGEGATE")/imagegate-containerd-verify"
if [[ -z ${VERIFY_ENTRY:-} ]]; then
    entries=(imagegate)
    [[ -x $LEAN ]] && entries+=(lean)
    total_passed=0 total_failed=0
    for entry in "${entries[@]}"; do
        log=$(mktemp /tmp/ige-cv-run.XXXXXX)
        VERIFY_ENTRY=$entry VERIFY_NESTED=1 bash "${BASH_SOURCE[0]}" "$IMAGEGATE" | tee "$log"
        line=$(grep -E '^through .*: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
        rm -f "$log"
        if [[ -z $line ]]; then
            echo "the run through $entry ended without its summary: counted as 1 failure"
            total_failed=$((total_failed + 1))
            continue
        fi
        counts=${line##*: }
        total_passed=$((total_passed + ${counts%% passed*}))
        failed=${counts#*, }
        total_failed=$((total_failed + ${failed%% failed}))
    done
    printf '\n%d passed, %d failed\n' "$total_passed" "$total_failed"
    ((total_failed == 0))
    exit
fi

W=$(mktemp -d /tmp/ige-cv.XXXXXX) || exit 2
trap '[[ ${E2E_KEEP:-0} == 1 ]] && echo "kept $W" >&2 || rm -rf "$W"' EXIT
PASSED=0
FAILED=0
OCI_DESCRIPTOR=application/vnd.oci.descriptor.v1+json

pass() { PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s\n' "$1"
    shift
    local line
    for line in "$@"; do printf '        %s\n' "$line"; done
}
section() { printf '\n# %s\n' "$*"; }

# ---------------------------------------------------------------------------------------
# The verifier as containerd installs it: the packaged wrapper in a bin_dir.

BIN_DIR="$W/opt/containerd/image-verifier/bin"
mkdir -p "$BIN_DIR"
WRAPPER_TEMPLATE="$REPO/packaging/containerd-verifier.sh.in"
if [[ $VERIFY_ENTRY == lean ]]; then
    # The packaged wrapper, as make install / the .deb write it, running the lean verifier.
    if [[ -f $WRAPPER_TEMPLATE ]]; then
        sed "s|@IMAGEGATE_VERIFY_BINARY@|$LEAN|g" "$WRAPPER_TEMPLATE" >"$BIN_DIR/imagegate"
    else
        printf '#!/bin/sh\nexec %s "$@"\n' "$LEAN" >"$BIN_DIR/imagegate"
    fi
    ENTRY_NAME=imagegate-containerd-verify
else
    printf '#!/bin/sh\nexec %s containerd-verify "$@"\n' "$IMAGEGATE" >"$BIN_DIR/imagegate"
    ENTRY_NAME="imagegate containerd-verify"
fi
printf '\n## through %s\n' "$ENTRY_NAME"
chmod 0755 "$BIN_DIR/imagegate"
VERIFIER="$BIN_DIR/imagegate"

# A real OCI image index and its descriptor, as containerd's json.Encoder writes it.
cat >"$W/index.json" <<'EOF'
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:9c1b6dd6b2b8d8c4a2c3f0e1a7c0c6f8fd1e5dfb3e0a1b9a0c7d2f4e3a1b2c3d","size":1022,"platform":{"architecture":"amd64","os":"linux"}}]}
EOF
DIGEST="sha256:$(sha256sum "$W/index.json" | cut -d' ' -f1)"
SIZE=$(stat -c %s "$W/index.json")
printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s}\n' "$DIGEST" "$SIZE" \
    >"$W/descriptor.json"

# Policies: the example policy's (acme, serial 42), and variants.
POLICY="$REPO/tests/fixtures/policies/acme.json"
[[ -f $POLICY ]] || { echo "containerd_verify_test: $POLICY is missing" >&2; exit 2; }
jq '.requireSignIn = true' "$POLICY" >"$W/signin.json"
jq '.mode = "audit"' "$POLICY" >"$W/audit.json"
printf '{ "organization": "acme", ' >"$W/broken.json"
LOG="$W/log/decisions.jsonl"

# config NAME JQ_FILTER: writes $W/NAME.conf from the base configuration changed by the filter.
config() {
    jq -n --arg policy "$POLICY" --arg log "$LOG" --arg cache "$W/cache-$1" \
        "{policyFile: \$policy, decisionLog: \$log, cacheDir: \$cache, adminSocket: \"$W/admin.sock\"} | $2" \
        >"$W/$1.conf"
}
config base '.'
config node '.containerdUser = "k8s-node"'
config bob '.containerdUser = "bob"'
config signin ".policyFile = \"$W/signin.json\""
config signin-bob ".policyFile = \"$W/signin.json\" | .containerdUser = \"bob\""
config audit ".policyFile = \"$W/audit.json\""
config broken ".policyFile = \"$W/broken.json\""
config missing ".policyFile = \"$W/no-such-policy.json\""

# verify CONFIG REF [STDIN_FILE] [EXTRA ARGS...]: runs the verifier as containerd does; sets
# OUT (standard output), ERR (standard error) and STATUS.
verify() {
    local conf=$1 ref=$2 input=${3:-$W/descriptor.json}
    shift 3 2>/dev/null || shift $#
    LAST_REF=$ref
    OUT=$("$VERIFIER" --config "$W/$conf.conf" -name "$ref" -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" \
        "$@" <"$input" 2>"$W/stderr")
    STATUS=$?
    ERR=$(cat "$W/stderr")
}

# expect DESC WANT_STATUS WANT_LINE: the last verify's exit status and its one line, exactly.
expect() {
    local desc=$1 want_status=$2 want_line=$3 lines
    lines=$(printf '%s' "$OUT" | grep -c '')
    if [[ $STATUS == "$want_status" && $OUT == "$want_line" && $lines == 1 ]]; then
        pass "$desc"
    else
        fail "$desc" "sent:   -name ${LAST_REF:-(see the test)} -digest $DIGEST -stdin-media-type $OCI_DESCRIPTOR" \
            "status: $STATUS (want $want_status)" "stdout: $OUT" "want:   $want_line" "stderr: $ERR"
    fi
}

# expect_prefix DESC WANT_STATUS PREFIX: as expect, for lines that end in a system message.
expect_prefix() {
    local desc=$1 want_status=$2 prefix=$3 lines
    lines=$(printf '%s' "$OUT" | grep -c '')
    if [[ $STATUS == "$want_status" && $OUT == "$prefix"* && $lines == 1 ]]; then
        pass "$desc"
    else
        fail "$desc" "status: $STATUS (want $want_status)" "stdout: $OUT" "want:   $prefix..." "stderr: $ERR"
    fi
}

check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc" "failed: $*"; fi
}

last_log() { tail -n 1 "$LOG"; }

# ---------------------------------------------------------------------------------------
section "allowed pulls"

verify base docker.io/library/alpine:3.19
expect "Docker Official image allowed (exit 0, one line)" 0 \
    "imagegate: allowed pull of docker.io/library/alpine:3.19: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"
verify base bitnami/redis:7
expect "Verified Publisher image allowed, the reference normalised" 0 \
    "imagegate: allowed pull of docker.io/bitnami/redis:7: Verified Publisher images are allowed by acme's Image Access Management (acme policy 42)"
verify base "docker.io/library/alpine@$DIGEST"
expect "a pull by digest, the digest kept" 0 \
    "imagegate: allowed pull of docker.io/library/alpine@$DIGEST: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"
verify base docker.io/someone/approved-tool:1
expect "a repository on the allowlist" 0 \
    "imagegate: allowed pull of docker.io/someone/approved-tool:1: on acme's Image Access Management's repository allowlist (acme policy 42)"
verify bob docker.io/library/alpine:3.19
expect "containerdUser with a Reader grant (bob)" 0 \
    "imagegate: allowed pull of docker.io/library/alpine:3.19: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"

section "restricted pulls"

verify base docker.io/someone/tool:latest
expect "Community image denied (exit 1)" 1 \
    "imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted by acme's Image Access Management (policy 42)"
verify base curlimages/curl:8.5.0
expect "Sponsored Open Source image denied" 1 \
    "imagegate: pull of docker.io/curlimages/curl:8.5.0 denied: Sponsored Open Source images are restricted by acme's Image Access Management (policy 42)"
verify base quay.io/coreos/etcd:v3.5
expect "registry not allowed by Registry Access Management" 1 \
    "imagegate: pull of quay.io/coreos/etcd:v3.5 denied: registry quay.io is not allowed by acme's Registry Access Management (policy 42)"
verify node docker.io/library/alpine:3.19
expect "no grant for containerdUser k8s-node" 1 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: k8s-node has no Reader, Writer or Manager grant on it (acme policy 42)"
verify base 'Docker.io//x'
expect "an invalid reference, quoted" 1 \
    "imagegate: pull denied: invalid reference \"Docker.io//x\": invalid repository name"
verify signin docker.io/library/alpine:3.19
expect "requireSignIn without containerdUser" 1 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: acme's policy requires signing in: containerd pulls have no user (set containerdUser in imagegate.json) (policy 42)"
verify signin-bob docker.io/library/alpine:3.19
expect "requireSignIn with containerdUser bob" 0 \
    "imagegate: allowed pull of docker.io/library/alpine:3.19: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"

section "audit mode: logged, not enforced"

verify audit docker.io/someone/tool:latest
expect "a Community image is allowed in audit mode, and the line says so" 0 \
    "imagegate: allowed pull of docker.io/someone/tool:latest in audit mode; enforced, acme's policy would deny it: Community images are restricted by acme's Image Access Management (policy 42)"
check "the log records the would-be denial with mode audit" \
    test "$(last_log | jq -r '[.decision, .mode, .source] | join(" ")')" = "deny audit containerd"

section "the decision log"

verify node docker.io/library/alpine:3.19
line=$(last_log)
check "one JSON line per decision, with the digest and source containerd" \
    test "$(jq -r '[.action, .reference, .decision, .source, .digest, .user, .organization, (.policySerial|tostring), .mode, .category, .registry] | join("|")' <<<"$line")" \
    = "image.pull|docker.io/library/alpine:3.19|deny|containerd|$DIGEST|k8s-node|acme|42|enforce|docker-official|docker.io"
check "its reason is the bare reason" \
    test "$(jq -r .reason <<<"$line")" = "k8s-node has no Reader, Writer or Manager grant on it (acme policy 42)"
check "its time is RFC 3339 UTC" bash -c "jq -r .time <<<'$line' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$'"
check "every line of the log is JSON" jq -e . "$LOG" >/dev/null

# Many verifiers at once (CRI pulls in parallel): whole lines, none lost.
before=$(wc -l <"$LOG")
for i in $(seq 40); do
    "$VERIFIER" --config "$W/base.conf" -name "docker.io/library/busybox:$i" -digest "$DIGEST" \
        -stdin-media-type "$OCI_DESCRIPTOR" <"$W/descriptor.json" >/dev/null 2>&1 &
done
wait
check "40 concurrent verifiers append 40 whole lines" test $(($(wc -l <"$LOG") - before)) -eq 40
check "... every one of them JSON" jq -e . "$LOG" >/dev/null

# Rotation: a verifier rotates only a file already over decisionLogMaxBytes, by renaming.
config small ".decisionLog = \"$W/rot/decisions.jsonl\" | .decisionLogMaxBytes = 4096 | .decisionLogFiles = 2"
mkdir -p "$W/rot"
head -c 5000 /dev/zero | tr '\0' 'x' >"$W/rot/decisions.jsonl"
echo old1 >"$W/rot/decisions.1.jsonl"
verify small docker.io/library/alpine:3.19
check "a full log is rotated: the old file becomes decisions.1.jsonl" test "$(stat -c %s "$W/rot/decisions.1.jsonl")" = 5000
check "... the previous decisions.1.jsonl becomes decisions.2.jsonl" test "$(cat "$W/rot/decisions.2.jsonl")" = old1
check "... and the decision starts a new file" test "$(wc -l <"$W/rot/decisions.jsonl")" = 1
verify small docker.io/library/alpine:3.19
check "a log under the limit is appended to" test "$(wc -l <"$W/rot/decisions.jsonl")" = 2

config nolog '.decisionLog = "/dev/null/decisions.jsonl"'
verify nolog docker.io/someone/tool:latest
expect "a log that cannot be written: still decided" 1 \
    "imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted by acme's Image Access Management (policy 42)"
check "... with a warning on standard error" grep -q "the decision was not logged" "$W/stderr"

section "broken, missing and expired policies fail closed"

verify broken docker.io/library/alpine:3.19
expect_prefix "a policy file that is not valid JSON: blocked (exit 3)" 3 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: cannot load the policy: $W/broken.json: invalid policy: "
verify missing docker.io/library/alpine:3.19
expect_prefix "a missing policy file: blocked" 3 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: cannot load the policy: $W/no-such-policy.json: cannot open: "
OUT=$("$VERIFIER" --config "$W/no-such.conf" -name alpine -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" \
    <"$W/descriptor.json" 2>"$W/stderr")
STATUS=$?
ERR=$(cat "$W/stderr")
expect_prefix "a missing configuration file: blocked" 3 \
    "imagegate: pull of alpine denied: cannot read imagegate's configuration: $W/no-such.conf: cannot open: "
printf '{"policyFile": "%s", "policyFiel": "typo"}' "$POLICY" >"$W/typo.conf"
OUT=$("$VERIFIER" --config "$W/typo.conf" -name alpine -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" \
    <"$W/descriptor.json" 2>"$W/stderr")
STATUS=$?
ERR=$(cat "$W/stderr")
expect "a configuration with an unknown key: blocked" 3 \
    "imagegate: pull of alpine denied: cannot read imagegate's configuration: $W/typo.conf: \$.policyFiel: unknown key"

# policyUrl: the verifier reads the verified cache the daemon keeps, and never fetches.
"$IMAGEGATE" policy keygen --out "$W/keys" >/dev/null 2>&1 || fail "policy keygen" "could not make keys"
"$IMAGEGATE" policy keygen --out "$W/otherkeys" >/dev/null 2>&1 || fail "policy keygen" "could not make keys"
"$IMAGEGATE" policy sign --key "$W/keys/imagegate.key" "$POLICY" --out "$W/acme.bundle" >/dev/null 2>&1 ||
    fail "policy sign" "could not sign $POLICY"
# url CACHE_DIR: a configuration whose policyUrl answers nothing (port 9 discards).
url() {
    jq -n --arg cache "$1" --arg log "$LOG" --arg pub "$W/keys/imagegate.pub" \
        '{policyUrl: "https://127.0.0.1:9/bundle", publicKey: $pub, cacheDir: $cache, decisionLog: $log,
          maxAgeSeconds: 604800}' >"$W/$2.conf"
}
mkdir -m 0700 "$W/fresh" "$W/stale" "$W/forged" "$W/empty"
cp "$W/acme.bundle" "$W/fresh/policy.bundle"
cp "$W/acme.bundle" "$W/stale/policy.bundle"
touch -d '8 days ago' "$W/stale/policy.bundle" # no sync state: the bundle's mtime is its last sync
"$IMAGEGATE" policy sign --key "$W/otherkeys/imagegate.key" "$POLICY" --out "$W/forged/policy.bundle" >/dev/null 2>&1
url "$W/fresh" fresh
url "$W/stale" stale
url "$W/forged" forged
url "$W/empty" empty

start=$(date +%s%N)
verify fresh docker.io/library/alpine:3.19
took=$((($(date +%s%N) - start) / 1000000))
expect "a fresh cached policyUrl policy decides" 0 \
    "imagegate: allowed pull of docker.io/library/alpine:3.19: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"
check "... without fetching (the policy server is unreachable; took ${took} ms)" test "$took" -lt 3000
verify stale docker.io/library/alpine:3.19
expect_prefix "a cached policy older than maxAgeSeconds: blocked, saying so (exit 1)" 1 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: the cached policy is stale: last synced "
check "... and the reason names maxAgeSeconds" bash -c "[[ '$OUT' == *'more than maxAgeSeconds (604800) ago' ]]"
verify forged docker.io/library/alpine:3.19
expect_prefix "a cached bundle signed by another key: blocked" 3 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: cannot load the policy: cached policy $W/forged/policy.bundle is unusable: "
verify empty docker.io/library/alpine:3.19
expect "no cached policy yet: blocked" 3 \
    "imagegate: pull of docker.io/library/alpine:3.19 denied: cannot load the policy: no cached policy in $W/empty"

section "wrong flags"

run_raw() { # run_raw ARGS...: the verifier with exactly these arguments and the descriptor
    LAST_REF="(see the arguments)"
    OUT=$("$VERIFIER" "$@" <"$W/descriptor.json" 2>"$W/stderr")
    STATUS=$?
    ERR=$(cat "$W/stderr")
}
run_raw --config "$W/base.conf" -name alpine -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" -verbose
expect "an unknown flag: blocked (exit 2), named" 2 \
    "imagegate: pull denied: containerd-verify: unknown flag \"-verbose\""
run_raw --config "$W/base.conf" -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR"
expect "no -name" 2 "imagegate: pull denied: containerd-verify: -name REF is required"
run_raw --config "$W/base.conf" -name alpine -stdin-media-type "$OCI_DESCRIPTOR"
expect "no -digest" 2 "imagegate: pull denied: containerd-verify: -digest DIGEST is required"
run_raw --config "$W/base.conf" -name alpine -digest "$DIGEST"
expect "no -stdin-media-type" 2 "imagegate: pull denied: containerd-verify: -stdin-media-type TYPE is required"
run_raw --config "$W/base.conf" -name alpine -digest "$DIGEST" -stdin-media-type application/json
expect "a media type this imagegate does not read" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: unsupported -stdin-media-type \"application/json\" (this imagegate reads $OCI_DESCRIPTOR)"
run_raw --config "$W/base.conf" -name alpine -digest sha256:1234 -stdin-media-type "$OCI_DESCRIPTOR"
expect "a malformed -digest" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: -digest: digest \"sha256:1234\" is not sha256:<64 lower-case hex digits>"
OTHER="sha256:$(printf '%064d' 0)"
run_raw --config "$W/base.conf" -name alpine -digest "$OTHER" -stdin-media-type "$OCI_DESCRIPTOR"
expect "-digest that is not the descriptor's" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: the descriptor's digest $DIGEST is not -digest $OTHER"
run_raw --config "$W/base.conf" -name "alpine@$OTHER" -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR"
expect "-name pinning another digest" 2 \
    "imagegate: pull of docker.io/library/alpine@$OTHER denied: -name pins digest $OTHER but -digest is $DIGEST"
run_raw --config "$W/base.conf" --policy "$POLICY" -name alpine -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR"
expect "--config and --policy together" 2 \
    "imagegate: pull denied: containerd-verify: --config and --policy are alternatives: give one"
run_raw --config="$W/base.conf" --name=docker.io/someone/tool -digest="$DIGEST" --stdin-media-type="$OCI_DESCRIPTOR"
expect "-flag=VALUE and --flag forms" 1 \
    "imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted by acme's Image Access Management (policy 42)"
OUT=$("$VERIFIER" --help 2>&1)
check "--help shows the usage" bash -c "[[ \$1 == 'usage: imagegate containerd-verify'* ]]" _ "$OUT"

section "standard input: bounded, malformed blocks"

printf 'garbage' >"$W/garbage"
verify base alpine "$W/garbage"
expect "garbage on standard input: blocked (exit 2)" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: the descriptor on standard input is not valid JSON: syntax error"
: >"$W/emptyin"
verify base alpine "$W/emptyin"
expect "nothing on standard input" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: standard input is empty: containerd writes the image's OCI descriptor there"
printf '{"mediaType":"application/vnd.oci.image.index.v1+json","size":%s}' "$SIZE" >"$W/nodigest"
verify base alpine "$W/nodigest"
expect "a descriptor without a digest" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: the descriptor on standard input has no digest"
# 1 MiB exactly (the descriptor padded with spaces) is read; one byte more is refused.
python3 - "$W" "$DIGEST" "$SIZE" <<'EOF'
import sys
w, digest, size = sys.argv[1], sys.argv[2], sys.argv[3]
d = '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s' % (digest, size)
limit = 1024 * 1024
open(w + "/at-limit", "w").write(d + " " * (limit - len(d) - 1) + "}")
open(w + "/over-limit", "w").write(d + " " * (limit - len(d)) + "}")
EOF
verify base alpine "$W/at-limit"
expect "a descriptor of exactly 1 MiB is read" 0 \
    "imagegate: allowed pull of docker.io/library/alpine:latest: Docker Official images are allowed by acme's Image Access Management (acme policy 42)"
verify base alpine "$W/over-limit"
expect "1 MiB + 1 byte on standard input: blocked" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: the descriptor on standard input is larger than 1048576 bytes"
OUT=$(head -c 50000000 /dev/zero | "$VERIFIER" --config "$W/base.conf" -name alpine -digest "$DIGEST" \
    -stdin-media-type "$OCI_DESCRIPTOR" 2>/dev/null)
STATUS=$?
expect "50 MB on standard input: read no further than the limit, blocked" 2 \
    "imagegate: pull of docker.io/library/alpine:latest denied: the descriptor on standard input is larger than 1048576 bytes"

section "the compact policy (speed) decides as the full one, and follows changes"

cp "$POLICY" "$W/live.json"
config live ".policyFile = \"$W/live.json\""
sleep 2.2 # a file changed in the last 2 s is never cached (timestamp granularity)
verify live docker.io/someone/tool:latest
check "the first verifier stores a compact policy" test -f "$W/cache-live/containerd-verify.cache"
check "... private to root (0600)" test "$(stat -c %a "$W/cache-live/containerd-verify.cache")" = 600
verify live docker.io/someone/tool:latest
expect "the next one decides from it the same way" 1 \
    "imagegate: pull of docker.io/someone/tool:latest denied: Community images are restricted by acme's Image Access Management (policy 42)"
jq '.serial = 43 | .imageAccess.repositoryAllowlist += ["docker.io/someone/tool"]' "$POLICY" >"$W/live.json"
verify live docker.io/someone/tool:latest
expect "a changed policy file is seen at once" 0 \
    "imagegate: allowed pull of docker.io/someone/tool:latest: on acme's Image Access Management's repository allowlist (acme policy 43)"

if [[ $VERIFY_ENTRY == lean ]] && command -v strace >/dev/null; then
    sleep 2.2
    verify live docker.io/library/alpine:3.19 # hands over; imagegate stores the compact form
    strace -f -e trace=execve -o "$W/execs" "$LEAN" --config "$W/live.conf" -name docker.io/library/alpine:3.19 \
        -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" <"$W/descriptor.json" >/dev/null 2>&1
    check "imagegate-containerd-verify decides from the compact policy itself (no hand-over)" \
        test "$(grep -c 'execve(' "$W/execs")" = 1
    rm -f "$W/cache-live/containerd-verify.cache"
    strace -f -e trace=execve -o "$W/execs" "$LEAN" --config "$W/live.conf" -name docker.io/library/alpine:3.19 \
        -digest "$DIGEST" -stdin-media-type "$OCI_DESCRIPTOR" <"$W/descriptor.json" >/dev/null 2>&1
    check "... and hands a pull without one to imagegate containerd-verify" \
        grep -q "execve(\"$IMAGEGATE\", \[\"imagegate\", \"containerd-verify\"" "$W/execs"
fi

if [[ -n ${VERIFY_NESTED:-} ]]; then
    printf '\nthrough %s: %d passed, %d failed\n' "$ENTRY_NAME" "$PASSED" "$FAILED"
else
    printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
fi
((FAILED == 0))
