#!/usr/bin/env bash
# `make bench` (issue 7): builds imagegate and the benchmarks in Release, then measures
#   1. in process (Google Benchmark): reference parsing, pull decisions, request parsing, policy load;
#   2. straight to the plugin socket: imagegate (10k policy) against the floor (bench/floor_plugin.c);
#   3. memory and reload: RSS idle with the default and a 100k-namespace policy, SIGHUP reloads under load;
#   4. through real dockerds (no plugin / floor / imagegate side by side, interleaved in rounds);
# and prints one table with each figure, its target and the ratio. Benchmarks, not tests:
# nothing here fails `make test`. Everything it starts it stops; only Unix sockets are used.
#
# Environment:
#   BENCH_BUILD=DIR        build directory (default build-bench)
#   BENCH_ROUNDS=N         dockerd rounds (default 8: fewer leave the ratios at the mercy of noise); BENCH_DIRECT_ROUNDS=N (default 3)
#   BENCH_QUICK=1          short runs everywhere: checks the harness, not the numbers
#   BENCH_SKIP=LIST        any of micro,direct,memory,dockerd,verifier,gateway,report (comma separated)
#   BENCH_NO_BUILD=1       use the binaries already built
#   BENCH_KEEP=1           keep the work directory (logs, raw results)
#   BENCH_TMP=DIR          where the work directory goes (default /dev/shm, else /tmp)
#   IMAGEGATE=PATH         the imagegate binary to measure (default: the one built here)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
QUICK=${BENCH_QUICK:-0}
ROUNDS=${BENCH_ROUNDS:-8}
DIRECT_ROUNDS=${BENCH_DIRECT_ROUNDS:-3}
SKIP=",${BENCH_SKIP:-},"
JOBS=${JOBS:-2}

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
skipped() { [[ $SKIP == *",$1,"* ]]; }

# ---------------------------------------------------------------- build
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    say "building (Release) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIMAGEGATE_BENCH=ON >"$BUILD.cmake.log" 2>&1 ||
        { cat "$BUILD.cmake.log" >&2; echo "bench: cmake failed" >&2; exit 1; }
    rm -f "$BUILD.cmake.log"
    cmake --build "$BUILD" -j"$JOBS" --target floor_plugin loadclient pingpong || { echo "bench: build failed" >&2; exit 1; }
    cmake --build "$BUILD" -j"$JOBS" --target micro_bench || note "micro_bench does not build: skipped"
    cmake --build "$BUILD" -j"$JOBS" --target imagegate || note "imagegate does not build: its figures are n/a"
    cmake --build "$BUILD" -j"$JOBS" --target imagegate-containerd-verify || note "imagegate-containerd-verify does not build"
fi
LOADCLIENT=${LOADCLIENT:-$BUILD/bench/loadclient}
FLOOR=${FLOOR:-$BUILD/bench/floor_plugin}
MICRO=${MICRO_BENCH:-$BUILD/bench/micro_bench}
IMAGEGATE=${IMAGEGATE:-$BUILD/imagegate}
[[ -x $LOADCLIENT && -x $FLOOR ]] || { echo "bench: $LOADCLIENT or $FLOOR missing" >&2; exit 1; }
[[ -x $IMAGEGATE ]] || { note "no imagegate binary at $IMAGEGATE: its figures are n/a"; IMAGEGATE=; }

# ---------------------------------------------------------------- bookkeeping and cleanup
# On tmpfs when there is one: dockerd's vfs driver and container configs then cost no disk
# flushes (containers/create: ~2 ms instead of ~20 ms), so a plugin's cost is not lost in I/O noise.
TMP_BASE=${BENCH_TMP:-/dev/shm}
[[ -d $TMP_BASE && -w $TMP_BASE ]] || TMP_BASE=/tmp
WORK=$(mktemp -d "$TMP_BASE/imagegate-bench.XXXXXX")
RESULTS=$WORK/results.txt
PLUGIN_DIR=/run/docker/plugins
TAG=bench$$
PIDS=()       # plugins and load clients we started
DOCKERDS=()   # pidfiles of dockerds we started
PLUGIN_SOCKETS=()
: >"$RESULTS"

stop_pid() { # PID [SECONDS]: TERM, wait, then KILL
    local pid=$1 wait=${2:-10} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < wait * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
}
stop_dockerd() { # PIDFILE
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    [[ -n $pid ]] && stop_pid "$pid" 30
    # dockerd stops the containerd it started; make sure, by its pid file under the exec root.
    local cpid
    cpid=$(cat "$(dirname "$1")/exec/containerd/containerd.pid" 2>/dev/null) && stop_pid "$cpid" 10
    rm -f "$1"
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid f
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for f in "${DOCKERDS[@]}"; do stop_dockerd "$f"; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 5; done
    for f in "${PLUGIN_SOCKETS[@]}"; do rm -f "$f"; done
    # Containers are never started, but unmount anything dockerd left under the work directory.
    grep -o " $WORK[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then note "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lc() { "$LOADCLIENT" "$@"; }
# measure LABEL ARGS...: one loadclient run, its key=value line appended to the results.
measure() {
    local label=$1; shift
    local line
    line=$(lc --format kv --label "$label" "$@" 2>"$WORK/lc.err")
    [[ -s $WORK/lc.err ]] && note "$label: $(head -c 400 "$WORK/lc.err")"
    [[ -n $line ]] || line="$label n=0 errors=1"
    echo "$line" >>"$RESULTS"
    note "$line"
}
record() { echo "$*" >>"$RESULTS"; note "$*"; }
rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

start_floor() { # SOCKET
    "$FLOOR" "$1" >"$WORK/floor-$(basename "$1").log" 2>&1 &
    PIDS+=($!)
    PLUGIN_SOCKETS+=("$1")
    lc --socket "$1" --sample activate --requests 1 --warmup 0 --wait 10 --expect-substr authz >/dev/null ||
        { echo "bench: the floor plugin did not start on $1" >&2; return 1; }
}
# start_imagegate NAME SOCKET [POLICY_FILE [DOCKER_SOCKET [SERVE_ARGS...]]]: sets IG_PID; logs in $WORK/NAME/.
start_imagegate() {
    local name=$1 socket=$2 policy=${3:-} docker=${4:-$WORK/$1/no-dockerd.sock} dir=$WORK/$1
    shift 4 2>/dev/null || shift $#
    mkdir -p "$dir"
    {
        printf '{\n  "socket": "%s",\n' "$socket"
        [[ -n $policy ]] && printf '  "policyFile": "%s",\n' "$policy"
        printf '  "decisionLog": "%s/decisions.jsonl",\n  "adminSocket": "%s/admin.sock",\n' "$dir" "$dir"
        printf '  "cacheDir": "%s/cache",\n  "dockerSockets": ["%s"]\n}\n' "$dir" "$docker"
    } >"$dir/imagegate.json"
    IG_START_NS=$(date +%s%N)
    "$IMAGEGATE" serve --config "$dir/imagegate.json" "$@" >"$dir/log" 2>&1 &
    IG_PID=$!
    PIDS+=("$IG_PID")
    PLUGIN_SOCKETS+=("$socket")
    if ! lc --socket "$socket" --sample activate --requests 1 --warmup 0 --wait 60 --expect-substr authz >/dev/null; then
        echo "bench: imagegate did not start on $socket; its log:" >&2
        tail -20 "$dir/log" >&2
        return 1
    fi
    IG_READY_MS=$((($(date +%s%N) - IG_START_NS) / 1000000))
}
stop_started() { # PID: stop one process we started and forget it
    stop_pid "$1" 10
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

record "section=meta loadavg_start=$(cut -d' ' -f1 /proc/loadavg) cpus=$(nproc) quick=$QUICK rounds=$ROUNDS direct_rounds=$DIRECT_ROUNDS"

# ---------------------------------------------------------------- policies
say "generating policies (the example policy grown to 10k and 100k namespaces)"
P10K=$WORK/policy-10k.json
P100K=$WORK/policy-100k.json
python3 "$ROOT/bench/generate_policy.py" --namespaces 10000 -o "$P10K" || exit 1
python3 "$ROOT/bench/generate_policy.py" --namespaces 100000 -o "$P100K" || exit 1
note "$(wc -c <"$P10K") and $(wc -c <"$P100K") bytes"
if [[ -n $IMAGEGATE ]]; then
    for p in "$P10K" "$P100K"; do
        if ! "$IMAGEGATE" policy lint "$p" >"$WORK/lint.out" 2>&1; then
            note "imagegate policy lint $(basename "$p") says:"; head -5 "$WORK/lint.out" >&2
        fi
    done
fi

# ---------------------------------------------------------------- 1. micro-benchmarks
if ! skipped micro && [[ -x $MICRO ]]; then
    say "micro-benchmarks (Google Benchmark)"
    reps=5 min_time=0.2
    [[ $QUICK == 1 ]] && reps=2 min_time=0.02
    IMAGEGATE_BENCH_POLICY_10K=$P10K IMAGEGATE_BENCH_POLICY_100K=$P100K "$MICRO" \
        --benchmark_repetitions=$reps --benchmark_min_time=$min_time --benchmark_report_aggregates_only=true \
        --benchmark_out="$WORK/micro.json" --benchmark_out_format=json 2>&1 | grep -E '_median|^[A-Za-z-]+:|ERROR|Run on|CPU' >&2
fi

# ---------------------------------------------------------------- 2. straight to the plugin socket
if ! skipped direct; then
    say "straight to the plugin socket: imagegate (10k policy) and the floor, interleaved"
    n1=20000 dur=2 dur64=3
    [[ $QUICK == 1 ]] && n1=2000 dur=0.5 dur64=0.5 DIRECT_ROUNDS=1
    # The machine itself: a request/reply between two processes, no plugin (no target).
    if [[ -x $BUILD/bench/pingpong ]]; then
        for ((r = 1; r <= DIRECT_ROUNDS; r++)); do
            record "section=direct server=machine round=$r test=pingpong $("$BUILD/bench/pingpong" $n1)"
        done
    fi
    start_floor "$WORK/floor.sock"
    servers=(floor)
    if [[ -n $IMAGEGATE ]] && start_imagegate direct "$WORK/imagegate.sock" "$P10K"; then servers+=(imagegate); fi
    # Attribution only (no target): the same daemon with its decision log off.
    [[ -n $IMAGEGATE ]] && start_imagegate direct-nolog "$WORK/imagegate-nolog.sock" "$P10K" "" --decision-log ""
    declare -A sock=([floor]=$WORK/floor.sock [imagegate]=$WORK/imagegate.sock [nolog]=$WORK/imagegate-nolog.sock)
    allow=(--expect-substr '"Allow":true')
    for ((r = 1; r <= DIRECT_ROUNDS; r++)); do
        order=("${servers[@]}")
        ((r % 2 == 0)) && order=($(printf '%s\n' "${servers[@]}" | tac))
        for s in "${order[@]}"; do
            base="section=direct server=$s round=$r"
            measure "$base test=req1" --socket "${sock[$s]}" --sample authzreq-create --requests $n1 --warmup 200 "${allow[@]}"
            measure "$base test=req4" --socket "${sock[$s]}" --sample authzreq-create --connections 4 --duration $dur "${allow[@]}"
            measure "$base test=res4" --socket "${sock[$s]}" --sample authzres --connections 4 --duration $dur "${allow[@]}"
            measure "$base test=ping4" --socket "${sock[$s]}" --sample authzreq-ping --connections 4 --duration $dur "${allow[@]}"
            measure "$base test=res1" --socket "${sock[$s]}" --sample authzres --requests $n1 --warmup 200 "${allow[@]}"
            measure "$base test=c64" --socket "${sock[$s]}" --sample authzreq-create --connections 64 --busy 48 \
                --threads 2 --duration $dur64 "${allow[@]}"
        done
        if [[ -S ${sock[nolog]} ]]; then
            base="section=direct server=nolog round=$r"
            measure "$base test=req1" --socket "${sock[nolog]}" --sample authzreq-create --requests $n1 --warmup 200 "${allow[@]}"
            measure "$base test=req4" --socket "${sock[nolog]}" --sample authzreq-create --connections 4 --duration $dur "${allow[@]}"
        fi
    done
    for p in "${PIDS[@]}"; do stop_started "$p"; done
fi

# ---------------------------------------------------------------- 3. memory and reloads
if ! skipped memory && [[ -n $IMAGEGATE ]]; then
    say "memory: RSS idle with the default and the 100k-namespace policy; SIGHUP reloads under load"
    warm() { # SOCKET: the requests a freshly started daemon would see
        lc --socket "$1" --sample authzreq-create --connections 4 --requests 2000 --warmup 0 >/dev/null 2>&1
        lc --socket "$1" --sample authzres --connections 4 --requests 2000 --warmup 0 >/dev/null 2>&1
        sleep 1
    }
    cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of the whole process
    wait_reloaded() { # LOG N: until the daemon has logged its Nth reload (or 30 s)
        local i
        for ((i = 0; i < 300; i++)); do
            (($(grep -c 'reloaded' "$1") >= $2)) && return 0
            sleep 0.1
        done
        note "no reload logged in $1"
    }
    reload_times() { # LOG: ms from each "SIGHUP" line to the next "reloaded" line (ms stamps)
        python3 -c '
import re, sys, datetime
start, out = None, []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z", line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1))
    if "SIGHUP" in line:
        start = t
    elif "reloaded" in line and start is not None:
        out.append((t - start).total_seconds() * 1000)
        start = None
print(",".join(f"{v:.0f}" for v in out) or "none")' "${1/#-//dev/stdin}"
    }
    if start_imagegate mem-default "$WORK/ig-default.sock"; then
        warm "$WORK/ig-default.sock"
        record "section=memory test=default rss_kib=$(rss_kib $IG_PID VmRSS) hwm_kib=$(rss_kib $IG_PID VmHWM) ready_ms=$IG_READY_MS"
        stop_started "$IG_PID"
    fi
    cp "$P100K" "$WORK/policy-live.json"
    if start_imagegate mem-100k "$WORK/ig-100k.sock" "$WORK/policy-live.json"; then
        pid=$IG_PID
        warm "$WORK/ig-100k.sock"
        record "section=memory test=100k rss_kib=$(rss_kib $pid VmRSS) hwm_kib=$(rss_kib $pid VmHWM) ready_ms=$IG_READY_MS"
        # Reloads of an idle daemon: its CPU time (what the reload costs, whatever the neighbours
        # do) and the wall time between its log lines.
        idle_reloads=3 serial_now=42 cpu=()
        for ((i = 1; i <= idle_reloads; i++)); do
            serial_now=$((serial_now + 1))
            sed "s/\"serial\": 42,/\"serial\": $serial_now,/" "$P100K" >"$WORK/policy-next.json"
            mv "$WORK/policy-next.json" "$WORK/policy-live.json"
            before=$(cpu_ticks $pid)
            kill -HUP "$pid"
            wait_reloaded "$WORK/mem-100k/log" "$i"
            cpu+=($(((($(cpu_ticks $pid) - before) * 1000) / $(getconf CLK_TCK))))
        done
        record "section=memory test=reload_idle reloads=$idle_reloads cpu_ms=$(IFS=,; echo "${cpu[*]}") wall_ms=$(reload_times "$WORK/mem-100k/log") rss_kib=$(rss_kib $pid VmRSS) hwm_kib=$(rss_kib $pid VmHWM)"
        log_lines_before=$(wc -l <"$WORK/mem-100k/log")
        # Reloads under load: a new serial each time, swapped in by rename as a deployment would.
        reloads=5
        [[ $QUICK == 1 ]] && reloads=2
        lc --socket "$WORK/ig-100k.sock" --sample authzreq-create --connections 4 --duration $((reloads + 2)) \
            --format kv --label "section=reload" >"$WORK/reload.kv" 2>"$WORK/reload.err" &
        load_pid=$!
        PIDS+=("$load_pid")
        sleep 1
        for ((i = 1; i <= reloads; i++)); do
            sed "s/\"serial\": 42,/\"serial\": $((serial_now + i)),/" "$P100K" >"$WORK/policy-next.json"
            mv "$WORK/policy-next.json" "$WORK/policy-live.json"
            kill -HUP "$pid"
            sleep 1
        done
        wait "$load_pid"
        stop_started "$load_pid"
        # SIGHUPs that arrive during a reload coalesce into one more reload, which reads the newest
        # file: wait (up to 20 s) for the last serial rather than expect one reload per signal.
        for ((i = 0; i < 100; i++)); do
            serial=$(curl -s --max-time 5 --unix-socket "$WORK/mem-100k/admin.sock" http://imagegate/status |
                         python3 -c 'import json,sys; print(json.load(sys.stdin).get("serial"))' 2>/dev/null)
            [[ $serial == $((serial_now + reloads)) ]] && break
            sleep 0.2
        done
        reload_ms=$(tail -n +$((log_lines_before + 1)) "$WORK/mem-100k/log" | reload_times -)
        record "$(cat "$WORK/reload.kv") reloads=$reloads serial_expected=$((serial_now + reloads)) serial_seen=${serial:-unknown} reload_ms=$reload_ms rss_after_kib=$(rss_kib $pid VmRSS) hwm_kib=$(rss_kib $pid VmHWM)"
        [[ -s $WORK/reload.err ]] && note "reload load client: $(head -c 300 "$WORK/reload.err")"
        stop_started "$pid"
    fi
fi

# ---------------------------------------------------------------- 4. through dockerd
dockerd_usable() {
    [[ $(id -u) == 0 ]] || { note "not root: dockerd benchmarks skipped"; return 1; }
    command -v dockerd >/dev/null || { note "no dockerd: dockerd benchmarks skipped"; return 1; }
    return 0
}
# start_dockerd NAME [PLUGIN]: a private dockerd (own data root, exec root, socket, containerd).
start_dockerd() {
    local dir=$WORK/d-$1 plugin=${2:-}
    mkdir -p "$dir"
    echo '{}' >"$dir/daemon.json"
    dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
        -H "unix://$dir/docker.sock" --pidfile "$dir/docker.pid" --iptables=false --ip6tables=false \
        --bridge=none --storage-driver=vfs --log-level=warn ${plugin:+--authorization-plugin=$plugin} \
        >>"$dir/log" 2>&1 &
    DOCKERDS+=("$dir/docker.pid")
    lc --socket "$dir/docker.sock" --path /_ping --requests 1 --warmup 0 --wait 60 >/dev/null ||
        { echo "bench: dockerd $1 did not start; its log:" >&2; tail -20 "$dir/log" >&2; return 1; }
}
if ! skipped dockerd && dockerd_usable; then
    say "through dockerd: no plugin, the floor and imagegate side by side, interleaved in rounds"
    np=2000 nc=300 ng=600 ngc=240
    [[ $QUICK == 1 ]] && np=200 nc=30 ng=40 ngc=20 ROUNDS=1
    mkdir -p "$PLUGIN_DIR" "$WORK/raw"
    configs=(none floor)
    [[ -n $IMAGEGATE ]] && configs+=(imagegate)
    # A one-file image to create containers from (vfs copies it per container): imported into
    # each daemon before a plugin is in front of it (the policy restricts image import).
    mkdir -p "$WORK/image" && echo "imagegate bench" >"$WORK/image/hello" && tar -C "$WORK/image" -cf "$WORK/image.tar" hello
    ok=1
    for c in "${configs[@]}"; do start_dockerd "$c" || ok=0; done
    for c in "${configs[@]}"; do
        lc --socket "$WORK/d-$c/docker.sock" --method POST --content-type application/x-tar --body-file "$WORK/image.tar" \
            --path "/images/create?fromSrc=-&repo=acme-team-04321/bench&tag=latest" --requests 1 --warmup 0 >/dev/null || ok=0
    done
    for c in "${configs[@]}"; do [[ $c == none ]] || stop_dockerd "$WORK/d-$c/docker.pid"; done
    start_floor "$PLUGIN_DIR/floor-$TAG.sock" || ok=0
    start_dockerd floor "floor-$TAG" || ok=0
    if [[ -n $IMAGEGATE ]]; then
        if start_imagegate dockerd "$PLUGIN_DIR/imagegate-$TAG.sock" "$P10K" "$WORK/d-imagegate/docker.sock" &&
            start_dockerd imagegate "imagegate-$TAG"; then :; else
            configs=(none floor)
        fi
    fi
    ((ok)) || echo "bench: dockerd setup failed; figures below may be missing" >&2
    create=(--sample create-body --expect-status 201)
    prune() { lc --socket "$1" --method POST --path /containers/prune --requests 1 --warmup 0 >/dev/null || note "prune failed on $1"; }
    for ((r = 1; r <= ROUNDS; r++)); do
        # Rotate the order each round, so no configuration always runs first or last.
        order=()
        for ((i = 0; i < ${#configs[@]}; i++)); do order+=("${configs[(i + r) % ${#configs[@]}]}"); done
        note "round $r/$ROUNDS: ${order[*]}"
        for ep in ping images create; do
            for c in "${order[@]}"; do
                s=$WORK/d-$c/docker.sock base="section=dockerd config=$c round=$r endpoint=$ep"
                case $ep in
                ping) measure "$base gap=0" --socket "$s" --path /_ping --requests $np --warmup 50 ;;
                images) measure "$base gap=0" --socket "$s" --path /images/json --requests $np --warmup 50 ;;
                create) measure "$base gap=0" --socket "$s" "${create[@]}" --requests $nc --warmup 10; prune "$s" ;;
                esac
            done
        done
        # Clients that idle 10-30 ms between calls (4 of them, rarely overlapping), as people and CI do.
        for ep in ping images create; do
            for c in "${order[@]}"; do
                s=$WORK/d-$c/docker.sock base="section=dockerd config=$c round=$r endpoint=$ep"
                gap=(--connections 4 --gap 10-30 --warmup 3 --raw "$WORK/raw/$c-$ep-r$r.txt")
                case $ep in
                ping) measure "$base gap=1" --socket "$s" --path /_ping --requests $ng "${gap[@]}" ;;
                images) measure "$base gap=1" --socket "$s" --path /images/json --requests $ng "${gap[@]}" ;;
                create) measure "$base gap=1" --socket "$s" "${create[@]}" --requests $ngc "${gap[@]}"; prune "$s" ;;
                esac
            done
        done
    done
fi

skipped verifier || [[ -z $IMAGEGATE ]] || { say "containerd-verify, exec to exit (issue 10)"; bash "$ROOT/bench/verifier_bench.sh" "$IMAGEGATE" --kv "$RESULTS" >&2; }
skipped gateway || [[ -z $IMAGEGATE ]] || { say "the registry gateway: blob, pull and manifest cost, RSS (issue 17)"; bash "$ROOT/bench/gateway_bench.sh" "$IMAGEGATE" --kv "$RESULTS" >&2; }
skipped trust || [[ -z $IMAGEGATE ]] || { say "trust rules: a signature check at containers/create, uncached and cached (issue 19)"; bash "$ROOT/bench/trust_bench.sh" "$IMAGEGATE" --kv "$RESULTS" >&2; }
skipped report || [[ -z $IMAGEGATE ]] || { say "report and policy impact on 1,000,000 decisions (issue 12)"; bash "$ROOT/bench/report_bench.sh" "$IMAGEGATE" --kv "$RESULTS" >&2; }
record "section=meta loadavg_end=$(cut -d' ' -f1 /proc/loadavg)"

# ---------------------------------------------------------------- the table
say "results"
mkdir -p "$BUILD"
cp "$RESULTS" "$BUILD/bench-results.txt"
[[ -f $WORK/micro.json ]] && cp "$WORK/micro.json" "$BUILD/bench-micro.json"
rm -rf "$BUILD/bench-raw" && cp -r "$WORK/raw" "$BUILD/bench-raw" 2>/dev/null
python3 "$ROOT/bench/summarize.py" "$RESULTS" "$WORK/micro.json" "$WORK/raw" | tee "$BUILD/bench-table.txt"
note "raw results: $BUILD/bench-results.txt, table: $BUILD/bench-table.txt"
