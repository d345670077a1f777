#!/usr/bin/env python3
"""Prints the table of `make bench` (issue 7) from bench/run.sh's raw results.

    summarize.py RESULTS.txt [MICRO.json [RAW_DIR]]

RESULTS.txt holds one `key=value ...` line per measurement (bench/loadclient --format kv plus
the labels run.sh adds); MICRO.json is Google Benchmark's JSON output. Figures are medians over
rounds; a figure "added" by a plugin is taken per round against the no-plugin dockerd of the
same round, so that machine drift cancels, then the median of those is used. The p99 of the
runs with idle gaps is taken over the samples of all rounds pooled (RAW_DIR/CONFIG-ENDPOINT-rN.txt,
one latency a line): a round holds too few samples for a stable p99 of its own.
"""
import glob
import os
import json
import statistics
import sys
from collections import defaultdict


def parse_results(path):
    rows = []
    with open(path) as f:
        for line in f:
            row = {}
            for token in line.split():
                if "=" in token:
                    key, value = token.split("=", 1)
                    row[key] = value
            if row:
                rows.append(row)
    return rows


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def pooled_percentile(raw_dir, config, endpoint, p):
    values = []
    for path in glob.glob(os.path.join(raw_dir, f"{config}-{endpoint}-r*.txt")):
        with open(path) as f:
            values.extend(float(line) for line in f if line.strip())
    if not values:
        return None
    values.sort()
    rank = max(1, int(-(-p * len(values) // 1)))
    return values[min(rank, len(values)) - 1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Table:
    def __init__(self):
        self.lines = []
        self.met = self.missed = self.na = 0

    def section(self, title):
        self.lines.append(("section", title))

    def row(self, figure, measured, reference, target, ratio, verdict):
        if verdict == "met":
            self.met += 1
        elif verdict == "MISSED":
            self.missed += 1
        elif verdict == "n/a":
            self.na += 1
        self.lines.append(("row", (figure, measured, reference, target, ratio, verdict)))

    def render(self):
        header = ("figure", "imagegate", "floor / ref", "target", "ratio", "verdict")
        widths = [54, 11, 11, 16, 6, 7]
        out = []
        fmt = lambda cols: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                     for i, (c, w) in enumerate(zip(cols, widths))).rstrip()
        out.append(fmt(header))
        out.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        for kind, content in self.lines:
            out.append(content if kind == "section" else fmt(content))
        return "\n".join(out)


def fmt_us(v, sign=False):
    if v is None:
        return "n/a"
    return (f"{v:+.0f} us" if sign else f"{v:.0f} us") if abs(v) >= 10 else (f"{v:+.1f} us" if sign else f"{v:.1f} us")


def fmt_rate(v):
    return "n/a" if v is None else f"{v / 1000:.1f}k/s"


def upper_bound(table, figure, measured, target, shown, reference="", target_text=None):
    """A figure that must stay at or under `target`."""
    if measured is None:
        table.row(figure, "n/a", reference, target_text or f"<= {target}", "", "n/a")
        return
    ratio = measured / target
    table.row(figure, shown, reference, target_text or f"<= {target}", f"{ratio:.2f}", "met" if ratio <= 1 else "MISSED")


def lower_bound(table, figure, measured, target, shown, reference="", target_text=None):
    if measured is None:
        table.row(figure, "n/a", reference, target_text or f">= {target}", "", "n/a")
        return
    ratio = measured / target
    table.row(figure, shown, reference, target_text or f">= {target}", f"{ratio:.2f}", "met" if ratio >= 1 else "MISSED")


def main():
    rows = parse_results(sys.argv[1])
    micro = {}
    if len(sys.argv) > 2:
        try:
            with open(sys.argv[2]) as f:
                for b in json.load(f).get("benchmarks", []):
                    if b.get("aggregate_name", "median") == "median" and "error_occurred" not in b:
                        name = b.get("run_name", b["name"])
                        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
                        # CPU time: the cost of the code itself, robust to busy neighbours on a shared machine.
                        micro[name] = (b["cpu_time"] * scale, b.get("label", ""))
        except (OSError, ValueError):
            pass

    raw_dir = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None
    meta = {}
    for r in rows:
        if r.get("section") == "meta":
            meta.update(r)
    t = Table()
    errors_total = 0

    # ---- through dockerd
    dockerd = [r for r in rows if r.get("section") == "dockerd"]
    by = defaultdict(dict)  # (endpoint, gap, round) -> config -> row
    for r in dockerd:
        by[(r["endpoint"], r["gap"], r["round"])][r["config"]] = r
        errors_total += int(r.get("errors", 0))
    names = {"ping": "GET /_ping", "images": "GET /images/json", "create": "POST /containers/create"}
    detail = []
    if dockerd:
        t.section("Through dockerd 20.10 (added over no plugin; p50: median of rounds, p99: rounds pooled)")
        for gap, metric, limit, what in (("0", "p50_us", 1.15, "added p50"), ("1", "p99_us", 1.3, "added p99, 10-30 ms gaps")):
            for ep in ("ping", "images", "create"):
                added = {"floor": [], "imagegate": []}
                absolute = defaultdict(list)
                for (e, g, _), configs in by.items():
                    if e != ep or g != gap:
                        continue
                    for c, r in configs.items():
                        absolute[c].append(num(r.get(metric)))
                    base = num(configs.get("none", {}).get(metric))
                    for c in added:
                        v = num(configs.get(c, {}).get(metric))
                        if base is not None and v is not None:
                            added[c].append(v - base)
                ig, fl = median(added["imagegate"]), median(added["floor"])
                pooled = {c: pooled_percentile(raw_dir, c, ep, 0.99) for c in ("none", "floor", "imagegate")} \
                    if gap == "1" and raw_dir else {}
                if pooled.get("none") is not None and pooled.get("floor") is not None:
                    fl = pooled["floor"] - pooled["none"]
                    ig = None if pooled.get("imagegate") is None else pooled["imagegate"] - pooled["none"]
                    for c, v in pooled.items():
                        absolute[c] = [v]
                figure = f"{names[ep]} {what}"
                if ig is None or fl is None or fl <= 0:
                    t.row(figure, fmt_us(ig, True), fmt_us(fl, True), f"<= {limit} x floor", "", "n/a")
                else:
                    ratio = ig / fl
                    t.row(figure, fmt_us(ig, True), fmt_us(fl, True), f"<= {limit} x floor", f"{ratio:.2f}",
                          "met" if ratio <= limit else "MISSED")
                detail.append((names[ep], "p50" if gap == "0" else "p99 gaps",
                               {c: median(v) for c, v in absolute.items()}))

    # ---- straight to the plugin socket
    direct = [r for r in rows if r.get("section") == "direct"]
    def direct_median(server, test, key):
        return median([num(r.get(key)) for r in direct if r.get("server") == server and r.get("test") == test])
    for r in direct:
        errors_total += int(r.get("errors", 0))
    if direct:
        t.section("Straight to the plugin socket (imagegate with the 10k policy; median of rounds)")
        upper_bound(t, "p50, 1 connection, 1 KB containers/create AuthZReq", direct_median("imagegate", "req1", "p50_us"), 25,
                    fmt_us(direct_median("imagegate", "req1", "p50_us")), fmt_us(direct_median("floor", "req1", "p50_us")),
                    "<= 25 us")
        for test, what in (("req4", "AuthZReq/s, 4 connections (1 KB create)"), ("res4", "AuthZRes/s, 4 connections (4.7 KB)")):
            lower_bound(t, what, direct_median("imagegate", test, "rps"), 45000, fmt_rate(direct_median("imagegate", test, "rps")),
                        fmt_rate(direct_median("floor", test, "rps")), ">= 45k/s")
        ig_err = sum(int(r.get("errors", 0)) for r in direct if r.get("server") == "imagegate" and r.get("test") == "c64")
        upper_bound(t, "p99, 64 connections, 48 busy" + (f" ({ig_err} errors!)" if ig_err else ""),
                    direct_median("imagegate", "c64", "p99_us"), 5000, fmt_us(direct_median("imagegate", "c64", "p99_us")),
                    fmt_us(direct_median("floor", "c64", "p99_us")), "<= 5000 us")
        t.row("  of which the 16 idle clients' p99", fmt_us(direct_median("imagegate", "c64", "idle_p99_us")),
              fmt_us(direct_median("floor", "c64", "idle_p99_us")), "", "", "")
        t.row("  AuthZReq/s, 4 connections, GET /_ping (117 B)", fmt_rate(direct_median("imagegate", "ping4", "rps")),
              fmt_rate(direct_median("floor", "ping4", "rps")), "", "", "")
        if any(r.get("server") == "nolog" for r in direct):
            t.row("  the same, decision log off: p50, 1 connection", fmt_us(direct_median("nolog", "req1", "p50_us")),
                  "", "", "", "")
            t.row("  the same, decision log off: AuthZReq/s, 4 conn.", fmt_rate(direct_median("nolog", "req4", "rps")),
                  "", "", "", "")
        t.row("  p50, 1 connection, 4.7 KB AuthZRes", fmt_us(direct_median("imagegate", "res1", "p50_us")),
              fmt_us(direct_median("floor", "res1", "p50_us")), "", "", "")
        if any(r.get("server") == "machine" for r in direct):
            t.row("  this machine, no plugin: 1 KB socketpair round trip", fmt_us(direct_median("machine", "pingpong", "p50_us")),
                  "1 CPU " + fmt_us(direct_median("machine", "pingpong", "same_cpu_p50_us")), "", "", "")

    # ---- in process
    if micro:
        t.section("In process (Google Benchmark, CPU time, median of repetitions)")
        def worst(prefix):
            hits = [(v, name, label) for name, (v, label) in micro.items() if name.startswith(prefix + "/") or name == prefix]
            return max(hits) if hits else (None, "", "")
        v, _, label = worst("BM_ParseReference")
        upper_bound(t, "reference parsing (slowest sample)", v, 300, "n/a" if v is None else f"{v:.0f} ns", "", "<= 300 ns")
        for policy, prefix in (("default", "BM_DecidePull_DefaultPolicy"), ("10k", "BM_DecidePull_10kPolicy"),
                               ("100k", "BM_DecidePull_100kPolicy")):
            v, _, label = worst(prefix)
            upper_bound(t, f"pull decision, {policy} policy (slowest case)", v, 1000, "n/a" if v is None else f"{v:.0f} ns",
                        "", "<= 1000 ns")
        v = micro.get("BM_ParseAndDecideRequest_Create1K_10kPolicy", (None,))[0]
        t.row("  parse + decide a 1 KB containers/create, 10k", "n/a" if v is None else f"{v / 1000:.2f} us", "", "", "", "")
        v = micro.get("BM_LoadAndSwapPolicy_100k", (None,))[0]
        upper_bound(t, "load + swap the 100k-namespace policy", None if v is None else v / 1e6, 150,
                    "n/a" if v is None else f"{v / 1e6:.0f} ms", "", "<= 150 ms")
    else:
        t.section("In process: no micro-benchmark results")

    # ---- memory and reload
    mem = {r.get("test"): r for r in rows if r.get("section") == "memory"}
    reload = next((r for r in rows if r.get("section") == "reload"), None)
    if mem or reload:
        t.section("Memory and reloads (imagegate serve; reload CPU from /proc, wall from its log)")

        def mib(v):
            return None if v is None else v / 1024

        def mib_row(figure, kib, target):
            v = mib(num(kib))
            upper_bound(t, figure, v, target, "n/a" if v is None else f"{v:.1f} MiB", "", f"<= {target} MiB")

        mib_row("RSS idle, default policy", mem.get("default", {}).get("rss_kib"), 12)
        mib_row("RSS idle, 100k-namespace policy", mem.get("100k", {}).get("rss_kib"), 64)
        idle = mem.get("reload_idle")
        if idle:
            cpu = median([num(x) for x in idle.get("cpu_ms", "").split(",")])
            wall = median([num(x) for x in idle.get("wall_ms", "").split(",")])
            upper_bound(t, f"SIGHUP reload of the 100k policy, idle (CPU)", cpu, 150,
                        "n/a" if cpu is None else f"{cpu:.0f} ms",
                        "n/a" if wall is None else f"wall {wall:.0f} ms", "<= 150 ms")
            mib_row(f"RSS after {idle.get('reloads')} idle reloads, 100k", idle.get("rss_kib"), 64)
        if reload:
            mib_row("peak RSS (VmHWM), 100k, after all reloads", reload.get("hwm_kib"), 64)
            errors = int(reload.get("errors", 0))
            seen, expected = reload.get("serial_seen"), reload.get("serial_expected")
            failed = errors + (0 if seen == expected else 1)
            t.row(f"failed requests, {reload.get('reloads')} reloads under load (serial {seen}/{expected})", str(errors),
                  "", "0", "", "met" if failed == 0 else "MISSED")
            v = num(reload.get("max_us"))
            upper_bound(t, "slowest request during those reloads (no stall)", None if v is None else v / 1000, 150,
                        "n/a" if v is None else f"{v / 1000:.1f} ms", f"p99 {fmt_us(num(reload.get('p99_us')))}",
                        "<= 150 ms")
            v = median([num(x) for x in reload.get("reload_ms", "").split(",")])
            t.row("  reload wall time under a 4-connection load", "n/a" if v is None else f"{v:.0f} ms", "", "", "", "")

    # ---- containerd-verify (issue 10) and report / impact (issue 12)
    verifier = {r.get("test"): r for r in rows if r.get("section") == "verifier"}
    if verifier:
        t.section("containerd-verify, exec to exit (issue 10; p50 of runs, as containerd spawns it)")
        floor = num(verifier.get("floor-true", {}).get("p50_ms"))
        for test, what in (("10k", "imagegate containerd-verify, 10k policy"),
                           ("lean-10k", "imagegate-containerd-verify, 10k policy"),
                           ("lean-10k-wrapper", "  the same through the installed wrapper")):
            v = num(verifier.get(test, {}).get("p50_ms"))
            upper_bound(t, what, v, 5, "n/a" if v is None else f"{v:.2f} ms",
                        "n/a" if floor is None else f"/bin/true {floor:.2f} ms", "<= 5 ms")
    reports = [r for r in rows if r.get("section") == "report"]
    if reports:
        t.section("report and policy impact (issue 12; best of runs, wall time)")
        for r in reports:
            v, target = num(r.get("wall_s")), num(r.get("target_s"))
            figure = f"{r.get('test')} ({int(num(r.get('lines')) or 0):,} decisions)"
            rss = num(r.get("rss_kib"))
            ref = "" if rss is None else f"{rss / 1024:.0f} MiB peak"
            if target is None:
                t.row(figure, "n/a" if v is None else f"{v:.2f} s", ref, "", "", "")
            else:
                upper_bound(t, figure, v, target, "n/a" if v is None else f"{v:.2f} s", ref, f"<= {target:g} s")

    gateway = {r.get("test"): r for r in rows if r.get("section") == "gateway"}
    if gateway:
        t.section("The registry gateway (issue 17; medians of rounds, side by side)")
        pull = gateway.get("pull", {})
        ratio = num(pull.get("throughput_ratio"))
        figure = f"docker pull of a {pull.get('mib', '?')} MiB image, throughput vs without"
        if ratio is None:
            t.row(figure, "n/a", "", ">= 0.9x", "", "n/a")
        else:
            t.row(figure, f"{num(pull.get('gateway_s')):.2f} s", f"{num(pull.get('direct_s')):.2f} s",
                  ">= 0.9x", f"{ratio:.2f}", "met" if ratio >= 0.9 else "MISSED")
        blob = gateway.get("blob", {})
        t.row(f"  blob GET of {blob.get('mib', '?')} MiB (MiB/s)", blob.get("gateway_mib_s", "n/a"),
              blob.get("direct_mib_s", "n/a"), "", blob.get("ratio", ""), "")
        rss = gateway.get("rss", {})
        growth = num(rss.get("growth_kib"))
        moved = num(rss.get("bytes"))
        label = f"RSS growth moving a {(moved or 0) / 1048576:.0f} MiB blob"
        upper_bound(t, label, growth, 16384, "n/a" if growth is None else f"{growth / 1024:.1f} MiB",
                    "", "< 16 MiB")
        m = gateway.get("manifest", {})
        added = num(m.get("added_p50_us"))
        t.row("added p50 per manifest request", fmt_us(added, sign=True),
              fmt_us(num(m.get("direct_p50_us"))), "", "", "")

    trust = {r.get("test"): r for r in rows if r.get("section") == "trust"}
    if trust:
        c = trust.get("create", {})
        t.section(f"Trust rules (issue 19): POST /containers/create through dockerd, medians of {c.get('images', '?')} signed images")
        t.row("  without a trust rule", fmt_us(num(c.get("none_p50_us"))), "", "", "", "")
        t.row("  first (uncached) verification, added", fmt_us(num(c.get("uncached_added_us")), sign=True),
              fmt_us(num(c.get("uncached_p50_us"))), "", "", "")
        t.row("  cached verification, added", fmt_us(num(c.get("cached_added_us")), sign=True),
              fmt_us(num(c.get("cached_p50_us"))), "", "", "")

    print(t.render())
    print()
    print(f"{t.met} met, {t.missed} MISSED, {t.na} n/a.  Load average {meta.get('loadavg_start', '?')} at the start, "
          f"{meta.get('loadavg_end', '?')} at the end, {meta.get('cpus', '?')} CPUs"
          + (" (BENCH_QUICK: harness check only)" if meta.get("quick") == "1" else "")
          + (f"; {errors_total} failed requests in load runs" if errors_total else "") + ".")
    if detail:
        print()
        print("Through dockerd, absolute (p50: median of rounds; p99 with gaps: rounds pooled):")
        print(f"  {'endpoint':<26}{'figure':<10}{'no plugin':>12}{'floor':>12}{'imagegate':>12}")
        for ep, fig, values in detail:
            print(f"  {ep:<26}{fig:<10}" + "".join(f"{fmt_us(values.get(c)):>12}" for c in ("none", "floor", "imagegate")))


if __name__ == "__main__":
    main()
