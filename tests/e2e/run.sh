#!/usr/bin/env bash
# Runs every end-to-end suite (tests/e2e/*_test.sh), one after the other, each in its own
# process with its own registry, dockerd and imagegate, and adds up their results.
#
#     bash tests/e2e/run.sh build/imagegate            # every suite
#     bash tests/e2e/run.sh build/imagegate core       # only suites whose name contains "core"
#
# Prints each suite's output, then the total as the last line, `N passed, N failed`; exits 1
# if any check failed or a suite ended without its summary line (a crash counts as a failure).
# A single suite also runs alone: bash tests/e2e/core_test.sh build/imagegate
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=${1:-${IMAGEGATE:-$here/../../build/imagegate}}
filter=${2:-}
case $binary in /*) ;; *) binary="$PWD/$binary" ;; esac
if [[ ! -x $binary ]]; then
    echo "run.sh: no imagegate binary at $binary (usage: run.sh IMAGEGATE_BINARY [FILTER])" >&2
    exit 2
fi

total_passed=0
total_failed=0
summaries=()
for suite in "$here"/*_test.sh; do
    name=$(basename "$suite" .sh)
    [[ -n $filter && $name != *"$filter"* ]] && continue
    echo "=== $name"
    log=$(mktemp /tmp/ige-run.XXXXXX)
    start=$SECONDS
    bash "$suite" "$binary" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    rm -f "$log"
    if [[ -z $line ]]; then
        echo "=== $name ended (status $status) without a summary line: counted as 1 failure"
        passed=0
        failed=1
    else
        passed=${line%% passed*}
        failed=${line#*, }
        failed=${failed%% failed}
        if ((status != 0 && failed == 0)); then
            echo "=== $name exited with status $status: counted as 1 failure"
            failed=1
        fi
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    summaries+=("$(printf '%-24s %4d passed, %d failed  (%ds)' "$name" "$passed" "$failed" $((SECONDS - start)))")
done

echo
echo "=== end-to-end suites"
for line in "${summaries[@]}"; do echo "$line"; done
echo "$total_passed passed, $total_failed failed"
((total_failed == 0 && ${#summaries[@]} > 0))
