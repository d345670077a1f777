#!/usr/bin/env bash
# `make test-sanitize` (issue 8): the tests again, with the sanitizers watching imagegate.
#
#   1. build-asan (ASan+UBSan): the unit tests; then, with SANITIZE_E2E=1 (default), every
#      end-to-end suite (tests/e2e/run.sh, real dockerd; the load test is one of them), or with
#      SANITIZE_E2E=0 only the load test on the plugin socket, without dockerd (CI).
#   2. build-tsan (TSan): the unit tests, and the plugin socket load test (32 clients and the
#      misbehaving ones) against the TSan-built server.
#
# imagegate processes started by the suites write sanitizer reports to files
# (build-*/sanitizer-logs/*.PID); any report there fails the run, even when the suite itself
# passed (a leak found at exit, a data race that did not change an answer).
# Environment: JOBS (default 2), SANITIZE_E2E (default 1), LOAD_SECONDS (the load test's
# duration under sanitizers, default 30).
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
e2e=${SANITIZE_E2E:-1}
load_seconds=${LOAD_SECONDS:-30}
results=()
failed=0

step() { echo; echo "=== test-sanitize: $*"; }
record() { # record STATUS DESCRIPTION
    if (($1 == 0)); then results+=("ok    $2"); else results+=("FAIL  $2"); failed=$((failed + 1)); fi
}

# reports DIR: prints the sanitizer reports in DIR; status 1 if there are any.
reports() {
    local found=0 f
    for f in "$1"/*; do
        [[ -s $f ]] || continue
        if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$f"; then
            echo "--- sanitizer report $f"
            head -60 "$f"
            found=1
        fi
    done
    return $found
}

build() { # build DIR CMAKE_OPTION
    cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$2" >/dev/null &&
        cmake --build "$1" -j"$jobs" --target imagegate imagegate-containerd-verify unit_tests hammer imagegate-differential imagegate-routes imagegate-gateway-differential
}

# TSan maps its shadow at fixed addresses; with a kernel's high mmap randomisation it aborts
# ("unexpected memory mapping"): run it without address randomisation.
no_aslr=()
setarch "$(uname -m)" -R true 2>/dev/null && no_aslr=(setarch "$(uname -m)" -R)

# --- ASan + UBSan -------------------------------------------------------------------------
step "ASan+UBSan build (build-asan)"
build build-asan -DIMAGEGATE_SANITIZE=ON || { echo "build-asan failed"; exit 1; }
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"

step "unit tests under ASan+UBSan"
(cd build-asan && ctest --output-on-failure)
record $? "unit tests (ASan+UBSan)"

logs=build-asan/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$PWD/$logs/asan"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$PWD/$logs/ubsan"
if ((e2e)); then
    step "every end-to-end suite with the ASan+UBSan imagegate"
    LOAD_SECONDS=$load_seconds bash tests/e2e/run.sh build-asan/imagegate
    record $? "end-to-end suites (ASan+UBSan imagegate)"
else
    step "load test on the plugin socket with the ASan+UBSan imagegate (no dockerd)"
    LOAD_SECONDS=$load_seconds LOAD_WITH_DOCKERD=0 bash tests/e2e/load_test.sh build-asan/imagegate
    record $? "load test, plugin socket (ASan+UBSan imagegate)"
fi
reports "$logs"
record $? "no ASan/UBSan/LSan report from imagegate processes ($logs)"
unset ASAN_OPTIONS UBSAN_OPTIONS

# --- TSan ---------------------------------------------------------------------------------
step "TSan build (build-tsan)"
build build-tsan -DIMAGEGATE_TSAN=ON || { echo "build-tsan failed"; exit 1; }
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"

step "unit tests under TSan"
"${no_aslr[@]}" build-tsan/unit_tests
record $? "unit tests (TSan)"

logs=build-tsan/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
export TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$PWD/$logs/tsan"
step "load test on the plugin socket with the TSan imagegate (no dockerd)"
LOAD_SECONDS=$load_seconds LOAD_WITH_DOCKERD=0 "${no_aslr[@]}" bash tests/e2e/load_test.sh build-tsan/imagegate
record $? "load test, plugin socket (TSan imagegate)"
reports "$logs"
record $? "no TSan report from imagegate processes ($logs)"

echo
echo "=== test-sanitize"
for line in "${results[@]}"; do echo "$line"; done
echo "$((${#results[@]} - failed)) passed, $failed failed"
((failed == 0))
