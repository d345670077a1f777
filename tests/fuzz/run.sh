#!/usr/bin/env bash
# Runs every libFuzzer target (or those named) for SECONDS each, one after the other.
#
#     bash tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     # make fuzz FUZZ_SECONDS=N
#
# Each target starts from its checked-in seeds (tests/fuzz/corpus/TARGET) plus what earlier runs
# found (BUILD_DIR/fuzz-corpus/TARGET, where new inputs go: the checked-in corpus is never
# written). SECONDS=0 only replays the corpora (a regression run). A crash, a sanitizer report,
# a leak, a timeout (> 10 s for one input) or a violated property leaves the input in
# BUILD_DIR/fuzz-artifacts/TARGET/ and the target counts as failed; reproduce it with
#     BUILD_DIR/tests/fuzz/TARGET BUILD_DIR/fuzz-artifacts/TARGET/crash-...
# Prints one line per target (crash-free seconds, runs, runs per second, corpus size, coverage)
# and exits 1 if any target failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
((${#targets[@]})) || targets=(fuzz_reference fuzz_classify fuzz_authz_request fuzz_decide fuzz_policy fuzz_bundle)

declare -A dict=([fuzz_reference]=reference [fuzz_classify]=engine [fuzz_authz_request]=engine
    [fuzz_decide]=engine [fuzz_policy]=policy [fuzz_bundle]=policy)
# Longer than every limit the target guards (kMaxReferenceLength is 1024).
declare -A max_len=([fuzz_reference]=1100 [fuzz_classify]=8192 [fuzz_authz_request]=8192
    [fuzz_decide]=8192 [fuzz_policy]=16384 [fuzz_bundle]=16384)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
lines=()
for target in "${targets[@]}"; do
    binary="$build/tests/fuzz/$target"
    if [[ ! -x $binary ]]; then
        echo "run.sh: no $binary (configure with -DIMAGEGATE_FUZZ=ON and build fuzz_targets)" >&2
        exit 2
    fi
    work="$build/fuzz-corpus/$target"
    artifacts="$build/fuzz-artifacts/$target/"
    log="$build/fuzz-logs/$target.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    args=(-dict="$here/dict/${dict[$target]:-engine}.dict" -max_len="${max_len[$target]:-8192}" -timeout=10
        -rss_limit_mb=2048 -artifact_prefix="$artifacts" -print_final_stats=1)
    if ((seconds > 0)); then args+=(-max_total_time="$seconds"); else args+=(-runs=0); fi
    echo "=== $target (${seconds}s)"
    start=$(date +%s.%N)
    "$binary" "${args[@]}" "$work" "$here/corpus/$target" >"$log" 2>&1
    status=$?
    elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    corpus=$(find "$work" "$here/corpus/$target" -type f | wc -l)
    if ((status == 0)); then
        line=$(printf '%-20s crash-free %5ss  %10s runs  %7s/s  corpus %5s  %s' "$target" "$elapsed" \
            "${runs:-?}" "${rate:-?}" "$corpus" "${cov:-}")
    else
        failed=$((failed + 1))
        artifact=$(ls -t "$artifacts" 2>/dev/null | head -1)
        line=$(printf '%-20s FAILED after %ss (status %s): %s' "$target" "$elapsed" "$status" \
            "${artifact:+$artifacts$artifact}")
        grep -E 'ERROR|SUMMARY|property violated|detail:|runtime error|==[0-9]+==' "$log" | head -15
        echo "(full log: $log)"
    fi
    echo "$line"
    lines+=("$line")
done

echo
echo "=== fuzzing, ${seconds}s per target"
for line in "${lines[@]}"; do echo "$line"; done
echo "$((${#targets[@]} - failed)) passed, $failed failed"
((failed == 0))
