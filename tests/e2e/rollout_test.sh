#!/usr/bin/env bash
# Rolling a policy out (issue 12): imagegate in audit mode in front of a real dockerd, pulls
# and runs happen (nothing is refused), then `imagegate report` lists exactly the would-be
# denials, `imagegate policy impact` says what a stricter and a looser policy would change,
# and the policy is enforced.
#
#     bash tests/e2e/rollout_test.sh build/imagegate
#
# The decision log is rotated every 4 KiB here, so report and impact read it across spdlog's
# rotated files (decisions.1.jsonl, decisions.2.jsonl, ...).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W="$E2E_TMP/rollout"
mkdir -p "$W"

# policy_variant OUT JQ_FILTER: the acme example policy (this run's registry allowed), changed.
policy_variant() {
    jq "$2" "$W/acme.json" >"$1" || e2e_fatal "cannot write $1"
}

# log_has TEXT: the decision log (any of its files) holds TEXT; spdlog writes lines from its
# own thread, a moment after dockerd has its answer.
log_has() { cat "${IG_DECISION_LOG%.jsonl}"*.jsonl 2>/dev/null | grep -qF -- "$1"; }

# report_json JQ_FILTER: runs `report --json` on this run's configuration, prints the filter's result.
report_json() { "$IMAGEGATE" report --config "$IG_CONFIG" --json | jq -c "$1"; }

# expect_same DESC WANT GOT: two strings are equal.
expect_same() {
    if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "want: $2" "got:  $3"; fi
}

# expect_status DESC STATUS CMD...: CMD exits with STATUS (stdout and stderr kept for the next checks).
expect_status() {
    local desc=$1 want=$2; shift 2
    _run "$@"
    if ((E2E_LAST_RC == want)); then pass "$desc"; else _fail_with_output "$desc" "expected exit status $want"; fi
}

# -----------------------------------------------------------------------------------------
section "setup: registry, images, dockerd without a plugin"
setup_world
policy_from_template "$E2E_FIXTURES/acme-policy.json" "$W/acme.json"
policy_variant "$W/audit.json" '.mode = "audit"'
make_config "$W/audit-config.json" "$W/audit.json"
jq '.decisionLogMaxBytes = 4096 | .decisionLogFiles = 50' "$W/audit-config.json" >"$W/config.json" ||
    e2e_fatal "cannot write $W/config.json"

# -----------------------------------------------------------------------------------------
section "audit mode: everything happens, the would-be denials are logged"
start_imagegate --config "$W/config.json"
restart_dockerd --authorization-plugin="$IG_NAME"

expect_ok dk pull alpine                                    # Docker Official: allowed
expect_ok dk pull bitnami/redis                             # Verified Publisher: allowed
expect_ok dk pull acme/app                                  # Organization: allowed
expect_ok dk pull someone/tool                              # Community: would deny
expect_ok dk pull curlimages/curl                           # Sponsored OSS: would deny
expect_ok dk pull "$REGISTRY_ALT/acme/app"                  # a registry not allowed: would deny
expect_ok dk run --rm --network none alpine true            # allowed
expect_ok dk run --rm --network none someone/tool true      # would deny (run)
expect_ok dk create --name privileged --network none --privileged alpine true # hardening: would deny, names no image
expect_ok dk rm privileged
# Enough decisions to rotate the 4 KiB log a few times.
for i in 1 2 3 4 5 6; do expect_ok dk pull -q "busybox:latest"; done
check "the decision log holds the last decisions" wait_until 10 log_has 'a privileged container is restricted'
check "the log has rotated (decisions.1.jsonl exists)" test -s "${IG_DECISION_LOG%.jsonl}.1.jsonl"

# -----------------------------------------------------------------------------------------
section "report: exactly the would-be denials"
expect_output "would deny" "$IMAGEGATE" report --config "$IG_CONFIG"
expect_message_has "docker.io/someone/tool:latest" "docker.io/curlimages/curl:latest" \
    "$REGISTRY_ALT/acme/app:latest" "a privileged container is restricted" "rotated file"
expect_same "report --json: the would-deny references, exactly" \
    "[\"docker.io/curlimages/curl:latest\",\"docker.io/someone/tool:latest\",\"$REGISTRY_ALT/acme/app:latest\"]" \
    "$(report_json '[.references[] | select(.decision == "wouldDeny") | .reference] | sort')"
expect_same "report --json: nothing was denied (audit mode enforces nothing)" "0" "$(report_json '.denied')"
expect_same "report --json: someone/tool would have been denied for pull and run, to the local socket" \
    '{"actions":["image.pull","image.run"],"users":[""],"category":"community"}' \
    "$(report_json '.references[] | select(.reference == "docker.io/someone/tool:latest") | {actions, users, category}')"
expect_same "report --json: the hardening would-deny names no image" "1" \
    "$(report_json '[.otherDenials[] | select(.reason | contains("privileged container"))] | length')"
expect_same "report --json: the totals add up" "true" \
    "$(report_json '.total == .allowed + .denied + .wouldDeny and .skippedLines == 0')"
expect_same "report --json: it read the rotated files, oldest first" "true" \
    "$(report_json '(.files | length) > 1 and (.files[-1] | endswith("/decisions.jsonl"))')"
expect_same "report --since 1h sees the same decisions" "$(report_json '.total')" \
    "$("$IMAGEGATE" report --config "$IG_CONFIG" --since 1h --json | jq '.total')"
expect_fail "is not a duration" "$IMAGEGATE" report --config "$IG_CONFIG" --since 1fortnight
expect_same "report --since 1fortnight exits 2" "2" "$E2E_LAST_RC"

# -----------------------------------------------------------------------------------------
section "policy impact: what a change would break, before it is rolled out"
policy_variant "$W/enforce.json" '.mode = "enforce"'
policy_variant "$W/stricter.json" '.serial = 43 | .imageAccess.verifiedPublisher = "restricted"'
policy_variant "$W/looser.json" \
    ".serial = 44 | .imageAccess.sponsoredOpenSource = \"allowed\" | .registryAccess.allowedRegistries += [\"$REGISTRY_ALT\"]"

expect_status "the same policy enforced changes nothing: exit 0" 0 \
    "$IMAGEGATE" policy impact "$W/enforce.json" --config "$IG_CONFIG"
expect_message_has "No logged decision changes."

expect_status "a stricter policy (Verified Publisher restricted) breaks something: exit 1" 1 \
    "$IMAGEGATE" policy impact "$W/stricter.json" --config "$IG_CONFIG" --json
expect_same "  ...allow → deny: exactly bitnami/redis, pulled by the local socket" \
    '[{"action":"image.pull","reference":"docker.io/bitnami/redis:latest","users":[""]}]' \
    "$(jq -c '[.allowToDeny.references[] | {action, reference, users}]' "$E2E_LAST_OUT")"
expect_same "  ...and nothing deny → allow" "0" "$(jq -c '.denyToAllow.count' "$E2E_LAST_OUT")"

expect_status "a looser policy (Sponsored OSS and $REGISTRY_ALT allowed) changes something: exit 1" 1 \
    "$IMAGEGATE" policy impact "$W/looser.json" --config "$IG_CONFIG" --json
expect_same "  ...deny → allow: exactly curlimages/curl and $REGISTRY_ALT/acme/app" \
    "[\"docker.io/curlimages/curl:latest\",\"$REGISTRY_ALT/acme/app:latest\"]" \
    "$(jq -c '[.denyToAllow.references[].reference] | unique' "$E2E_LAST_OUT")"
expect_same "  ...and nothing allow → deny" "0" "$(jq -c '.allowToDeny.count' "$E2E_LAST_OUT")"
expect_same "  ...the hardening would-deny is not replayed, and says so" "1" \
    "$(jq -c '.notReplayed.noImage' "$E2E_LAST_OUT")"

expect_status "the looser policy as a table" 1 "$IMAGEGATE" policy impact "$W/looser.json" --config "$IG_CONFIG"
expect_message_has "deny → allow:" "docker.io/curlimages/curl:latest" \
    "Sponsored Open Source images are allowed by acme's Image Access Management"

policy_variant "$W/typo.json" '.imageAccess.verifiedPublisher = "alowed"'
expect_status "a policy with lint errors is not replayed: exit 2" 2 \
    "$IMAGEGATE" policy impact "$W/typo.json" --config "$IG_CONFIG"
expect_message_has '$.imageAccess.verifiedPublisher' "nothing replayed"
expect_status "a policy that is not JSON: exit 2" 2 \
    "$IMAGEGATE" policy impact "$E2E_FIXTURES/broken-policy.json" --config "$IG_CONFIG"

# -----------------------------------------------------------------------------------------
section "enforce: the would-be denials are now denials"
stop_imagegate
jq --arg p "$W/enforce.json" '.policyFile = $p' "$W/config.json" >"$W/enforce-config.json"
start_imagegate --config "$W/enforce-config.json"
restart_dockerd --authorization-plugin="$IG_NAME"
dk rmi -f someone/tool >/dev/null 2>&1
expect_denied "Community" dk pull someone/tool
expect_ok dk pull alpine
check "the decision log holds the denial" wait_until 10 log_has '"decision":"deny","reason":"Community'
expect_same "report --json: someone/tool is now denied, not would-deny" '"deny"' \
    "$(report_json '.references[] | select(.reference == "docker.io/someone/tool:latest" and .decision == "deny") | .decision')"

e2e_finish
