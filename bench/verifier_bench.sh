#!/usr/bin/env bash
# `imagegate containerd-verify` from exec to exit (issue 10: ≤ 5 ms p50 with the
# 10,000-namespace policy). containerd starts one verifier process per pull, so what counts
# is the whole process: exec, dynamic loading, configuration, policy, decision, log line, exit.
#
#     bash bench/verifier_bench.sh [IMAGEGATE] [--runs N] [--kv FILE]
#
# Measures, interleaved in rounds so machine drift hits all alike, with the descriptor on
# standard input as containerd writes it (posix_spawn + wait4, no shell in between):
#   floor           /bin/true, and `imagegate version` (the binary's own start-up)
#   default         `imagegate containerd-verify`, the shipped default policy
#   10k             the same, bench/generate_policy.py's 10,000-namespace policy (compact form warm)
#   lean-default, lean-10k, lean-10k-deny
#                   imagegate-containerd-verify (built next to imagegate), which decides from the
#                   compact form without loading cpp-httplib and OpenSSL
#   lean-10k-wrapper  the same through a two-line /bin/sh wrapper, as containerd runs it
#   10k-cold        the first call after a policy change (full load, compact form written)
# and prints p50/p90 wall time and p50 CPU time (user+sys) per case. --kv appends one
# `section=verifier ...` line per case to FILE (bench/run.sh's results format).
# Environment: BENCH_QUICK=1 (few runs), BENCH_TMP=DIR (default /dev/shm, else /tmp).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGEGATE=$ROOT/build/imagegate
RUNS=400
KV=
[[ ${BENCH_QUICK:-0} == 1 ]] && RUNS=40
while (($#)); do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --kv) KV=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) IMAGEGATE=$1; shift ;;
    esac
done
[[ -x $IMAGEGATE ]] || { echo "verifier_bench: no imagegate binary at $IMAGEGATE" >&2; exit 2; }
TMP_BASE=${BENCH_TMP:-/dev/shm}
[[ -d $TMP_BASE && -w $TMP_BASE ]] || TMP_BASE=/tmp
W=$(mktemp -d "$TMP_BASE/imagegate-verifier-bench.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT

python3 "$ROOT/bench/generate_policy.py" --namespaces 10000 -o "$W/policy-10k.json" ||
    { echo "verifier_bench: generate_policy.py failed" >&2; exit 1; }
printf '{"decisionLog": "%s/default.jsonl", "cacheDir": "%s/cache-default"}\n' "$W" "$W" >"$W/default.conf"
printf '{"policyFile": "%s/policy-10k.json", "decisionLog": "%s/10k.jsonl", "cacheDir": "%s/cache-10k"}\n' \
    "$W" "$W" "$W" >"$W/10k.conf"
printf '{"policyFile": "%s/policy-10k.json", "decisionLog": "%s/cold.jsonl", "cacheDir": "%s/cache-cold"}\n' \
    "$W" "$W" "$W" >"$W/cold.conf"
# A real descriptor: an OCI index's media type, digest and size.
DIGEST=sha256:$(printf 'imagegate bench index' | sha256sum | cut -d' ' -f1)
printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":21}\n' "$DIGEST" >"$W/descriptor.json"
# The wrapper containerd execs, around the lean verifier when it is built.
LEAN=$(dirname "$IMAGEGATE")/imagegate-containerd-verify
if [[ -x $LEAN ]]; then
    printf '#!/bin/sh\nexec %s "$@"\n' "$LEAN" >"$W/wrapper"
else
    LEAN=
    sed "s|@IMAGEGATE_BINARY@|$IMAGEGATE|g" "$ROOT/packaging/containerd-verifier.sh.in" >"$W/wrapper"
fi
chmod 0755 "$W/wrapper"
# A file changed in the last 2 s is not cached (timestamp granularity): let the policy settle.
sleep 2.2

python3 - "$IMAGEGATE" "$W" "$DIGEST" "$RUNS" "$KV" "$LEAN" <<'EOF'
import os, statistics, sys, time

imagegate, work, digest, runs, kv, lean = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
media = "application/vnd.oci.descriptor.v1+json"

def verify(conf, ref, entry=None):
    head = [entry] if entry else [imagegate, "containerd-verify"]
    return head + ["--config", f"{work}/{conf}.conf", "-name", ref, "-digest", digest, "-stdin-media-type", media]

# acme-team-04321 is an organization namespace of the generated policy (bench/samples.hpp).
allowed, denied = "docker.io/acme-team-04321/app:1.0", "docker.io/someone/tool:latest"
cases = [
    ("floor-true", ["/bin/true"], None),
    ("floor-version", [imagegate, "version"], None),
    ("default", verify("default", "docker.io/library/alpine:3.19"), None),
    ("10k", verify("10k", allowed), None),
]
if lean:
    cases += [
        ("lean-default", verify("default", "docker.io/library/alpine:3.19", lean), None),
        ("lean-10k", verify("10k", allowed, lean), None),
        ("lean-10k-deny", verify("10k", denied, lean), None),
        ("lean-10k-wrapper", verify("10k", allowed, f"{work}/wrapper"), None),
    ]
else:
    cases += [("10k-wrapper", verify("10k", allowed, f"{work}/wrapper"), None)]
cold = ("10k-cold", verify("cold", "docker.io/acme-team-04321/app:1.0"), f"{work}/cache-cold/containerd-verify.cache")

devnull = os.open(os.devnull, os.O_WRONLY)

def once(argv, expect=None):
    stdin = os.open(f"{work}/descriptor.json", os.O_RDONLY)
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    os.close(stdin)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, os.waitstatus_to_exitcode(status)

results = {name: ([], [], set()) for name, _, _ in cases + [cold]}
for name, argv, _ in cases:  # warm-up: page cache, and the compact form of the 10k policy
    for _ in range(3):
        once(argv)
cold_runs = max(3, runs // 80)
rounds = 10
for r in range(rounds):
    for name, argv, _ in cases[r % len(cases):] + cases[:r % len(cases)]:
        for _ in range(runs // rounds):
            wall, cpu, code = once(argv)
            results[name][0].append(wall)
            results[name][1].append(cpu)
            results[name][2].add(code)
    if r < cold_runs:
        try:
            os.unlink(cold[2])
        except FileNotFoundError:
            pass
        wall, cpu, code = once(cold[1])
        results[cold[0]][0].append(wall)
        results[cold[0]][1].append(cpu)
        results[cold[0]][2].add(code)

load = open("/proc/loadavg").read().split()[0]
print(f"containerd-verify, exec to exit ({runs} runs per case; loadavg {load}, {os.cpu_count()} CPUs)")
print(f"{'case':<15} {'p50 ms':>8} {'p90 ms':>8} {'cpu p50 ms':>11}  exit  target")
lines = []
for name, _, _ in cases + [cold]:
    wall, cpu, codes = results[name]
    if not wall:
        continue
    p50 = statistics.median(wall)
    p90 = statistics.quantiles(wall, n=10)[8] if len(wall) >= 10 else max(wall)
    cpu50 = statistics.median(cpu)
    target = ""
    if name not in ("floor-true", "floor-version", "10k-cold"):
        target = "≤ 5 ms p50: " + ("ok" if p50 <= 5 else "over")
    print(f"{name:<15} {p50:8.2f} {p90:8.2f} {cpu50:11.2f}  {','.join(map(str, sorted(codes))):>4}  {target}")
    lines.append(f"section=verifier test={name} runs={len(wall)} p50_ms={p50:.3f} p90_ms={p90:.3f} "
                 f"cpu_p50_ms={cpu50:.3f} exit={','.join(map(str, sorted(codes)))} loadavg={load}")
if kv:
    with open(kv, "a") as f:
        f.write("\n".join(lines) + "\n")
EOF
