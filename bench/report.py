#!/usr/bin/python3
"""bench/report.py - tables and a plot from bench/run.sh's CSV.

    report.py [--csv FILE] [--plot PNG] [--md FILE] [--meta FILE] [--verify FILE] [--env FILE]
        Prints one Markdown table per scenario: tool, runs, median wall s, MB/s
        (size / median wall, 1 MB = 10^6 bytes), median CPU s (user+sys), median
        peak RSS MiB, wall and CPU as ratios to parfetch's (default settings),
        TCP connections and peak parallel requests nginx saw per run, and for the
        capped scenarios b and d the ideal time (size / (streams x cap)) and the
        ratio to it; for the chaos campaign h also the longest run (failed and timed-out
        runs included) and whether issue 8's target is met; for the round trips i-rttNms
        parfetch's ratio to curl and aria2c; for issue 9's e (HTTPS) parfetch's ratio to curl,
        for f and g (many objects in one process) the time per object, the peak thread
        count, the slowest and fastest object and g's ideal (from OUT_DIR/extra.csv). Writes a PNG of median wall time per tool per scenario
        (default docs/bench.png; matplotlib, Agg backend).
        Defaults: --csv bench/results/latest/results.csv, and meta.txt,
        verify.txt, env.txt next to the CSV when they exist.

    report.py logstats --log ACCESS_LOG --raw RAW_CSV --size BYTES
        (used by run.sh) joins the per-run rows with what nginx logged for each
        run (requests, 206 replies, distinct connections, peak parallel
        requests) and prints CSV rows without a header.
"""
import argparse
import csv
import math
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Streams each tool is configured for (None: parfetch's default, taken from what
# nginx saw: the median peak of parallel requests).
STREAMS = {
    "parfetch": None,
    "parfetch-n16": 16,
    "aria2c": 16,
    "axel": 16,
    "wget2": 16,
    "rclone": 16,
    "curl": 1,
    "parfetch-n8": 8,
    "aria2c-x8": 8,
    "axel-n8": 8,
    "pf-client": None,
    "curl-loop": 1,
    "aria2c-j8": 8,
}
TOOL_ORDER = ["parfetch", "parfetch-n16", "parfetch-n8", "aria2c", "aria2c-x8", "axel", "axel-n8",
              "wget2", "rclone", "curl", "pf-client", "curl-loop", "aria2c-j8"]
SCENARIO_TITLE = {
    "a": "loopback, no limits",
    "b": "every connection capped",
    "c": "round trip delay",
    "d": "capped, one connection trickling",
    "h": "chaos campaign",
    "i": "long round trip",
    "e": "HTTPS on loopback",
    "f": "many small objects in one process",
    "g": "many objects at once on one client, every connection capped",
}
# issue 9's targets
E_TARGET = 0.6  # parfetch's wall / curl's
RSS_TARGET_MIB = 64
# issue 8, item 3: every run of the chaos campaign correct and the median within this
H_TARGET_S = 3.0
PEERS_16 = ["aria2c", "axel", "wget2", "rclone"]
# run.sh writes these per run; logstats appends bytes, requests, ranged, conns,
# peak_parallel and server_bytes (body bytes nginx sent for that run)
RAW_COLUMNS = 12


# ----------------------------------------------------------------------------- logstats
def logstats(args):
    groups = defaultdict(list)  # (scn, run, tool) -> [(start, end, conn, status, method, bytes)]
    with open(args.log, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 8:
                continue
            msec, rtime, conn, method, uri, status = p[0], p[1], p[2], p[3], p[4], p[5]
            sent = int(p[7]) if p[7].isdigit() else 0
            parts = uri.strip("/").split("/")
            if len(parts) != 4 or not parts[1].startswith("r"):
                continue
            try:
                end = float(msec)
                start = end - float(rtime)
                run = int(parts[1][1:])
            except ValueError:
                continue
            groups[(parts[0], run, parts[2])].append((start, end, conn, status, method, sent))
    out = csv.writer(sys.stdout, lineterminator="\n")
    with open(args.raw, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] == "tool":
                continue
            row = row[:RAW_COLUMNS]  # (re-joining a finished CSV drops its old log columns)
            tool, scn, run = row[0], row[1], int(row[2])
            reqs = groups.get((scn, run, tool), [])
            ranged = sum(1 for r in reqs if r[3] == "206")
            conns = len({r[2] for r in reqs})
            # peak number of GETs in flight at once (sweep over start/end times)
            ev = []
            for r in reqs:
                if r[4] == "GET":
                    ev.append((r[0], 1))
                    ev.append((max(r[1], r[0] + 1e-6), -1))
            ev.sort(key=lambda e: (e[0], e[1]))  # at equal times an end comes first
            cur = peak = 0
            for _, d in ev:
                cur += d
                peak = max(peak, cur)
            # HTTP/1.1: one request at a time per connection (log times are in ms,
            # so back-to-back requests on one connection can seem to overlap)
            peak = min(peak, conns)
            sent = sum(r[5] for r in reqs)
            out.writerow(row + [args.size, len(reqs), ranged, conns, peak, sent])


# ----------------------------------------------------------------------------- report
def read_kv(path):
    d = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    d[k] = v
    return d


def fnum(x, nd=2):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{nd}f}"


def ratio(x, y):
    if x is None or y is None or y == 0:
        return "—"
    return f"{x / y:.2f}"


def med(vals):
    return statistics.median(vals) if vals else None


def summarize(rows):
    """rows of one scenario -> {tool: stats}"""
    by_tool = defaultdict(list)
    for r in rows:
        by_tool[r["tool"]].append(r)
    out = {}
    for tool, rs in by_tool.items():
        ok = [r for r in rs if r["ok"] == "1"]
        notes = sorted({r["note"] for r in rs if r["ok"] != "1" and r["note"]})
        s = {
            "n": len(rs),
            "ok": len(ok),
            "wall": med([float(r["wall_s"]) for r in ok]),
            "cpu": med([float(r["cpu_s"]) for r in ok]),
            "rss": med([int(r["rss_kb"]) / 1024 for r in ok]),
            "size": int(rs[0]["bytes"]) if rs[0].get("bytes") else None,
            "conns": med([int(r["conns"]) for r in ok if r.get("conns")]),
            "peak": med([int(r["peak_parallel"]) for r in ok if r.get("peak_parallel")]),
            "reqs": med([int(r["requests"]) for r in ok if r.get("requests")]),
            "sent": med([int(r["server_bytes"]) for r in ok if r.get("server_bytes")]),
            "notes": notes,
            "fail_wall": max([float(r["wall_s"]) for r in rs if r["ok"] != "1"], default=None),
            # every run, failed or timed out ones included (a timeout counts as its limit)
            "max": max([float(r["wall_s"]) for r in rs], default=None),
        }
        out[tool] = s
    return out


def tools_in(stats):
    known = [t for t in TOOL_ORDER if t in stats]
    return known + sorted(t for t in stats if t not in TOOL_ORDER)


def streams_for(tool, s):
    n = STREAMS.get(tool)
    if n is None:
        n = s["peak"] if s["peak"] else None
    return n


def fmt_int(x):
    if x is None:
        return "—"
    return f"{x:g}" if x != int(x) else str(int(x))


def table(scn, stats, meta):
    capped = scn in ("b", "d")
    chaos = scn == "h"
    cap = float(meta.get("cap", 8388608))
    pf = stats.get("parfetch") or stats.get("parfetch-n8", {})  # h runs parfetch -n 8 only
    head = ["tool", "runs ok", "median wall s"] + (["max wall s"] if chaos else []) + [
            "MB/s", "median CPU s", "median peak RSS MiB",
            "wall / parfetch", "CPU / parfetch", "TCP conns", "peak parallel GETs", "served / size"]
    if capped:
        head += ["streams", "ideal s", "wall / ideal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for tool in tools_in(stats):
        s = stats[tool]
        mbps = s["size"] / s["wall"] / 1e6 if s["wall"] and s["size"] else None
        runs = f"{s['ok']}/{s['n']}"
        if s["notes"]:
            runs += " (" + "; ".join(s["notes"])[:60] + ")"
        cells = [tool, runs, fnum(s["wall"])] + ([fnum(s["max"])] if chaos else []) + [
                 fnum(mbps, 1) if mbps else "—", fnum(s["cpu"]),
                 fnum(s["rss"], 1), ratio(s["wall"], pf.get("wall")), ratio(s["cpu"], pf.get("cpu")),
                 fmt_int(s["conns"]), fmt_int(s["peak"]),
                 f"{s['sent'] / s['size']:.2f}" if s["sent"] and s["size"] else "—"]
        if capped:
            n = streams_for(tool, s)
            ideal = s["size"] / (n * cap) if n and s["size"] else None
            cells += [fmt_int(n), fnum(ideal), ratio(s["wall"], ideal)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_extra(path, rows):
    """OUT_DIR/extra.csv (tool,scenario,run,key,value) -> {(scn, tool): {key: [values of ok runs]}}"""
    ok = {(r["scenario"], r["tool"], r["run"]) for r in rows if r["ok"] == "1"}
    out = defaultdict(lambda: defaultdict(list))
    if path and os.path.exists(path):
        with open(path, newline="") as f:
            for p in csv.reader(f):
                if len(p) == 5 and (p[1], p[0], p[2]) in ok:
                    try:
                        out[(p[1], p[0])][p[3]].append(float(p[4]))
                    except ValueError:
                        pass
    return out


def multi_ideal(scn, meta):
    """g: every object's bytes over the connection budget at the cap"""
    if scn != "g":
        return None
    n, size = int(meta.get("g_count", 16)), int(meta.get("g_size", 33554432))
    return n * size / (int(meta.get("g_budget", 8)) * float(meta.get("cap", 8388608)))


def multi_table(scn, stats, extra, meta):
    """f and g: one run fetches a set of objects"""
    count = int(meta.get("f_count" if scn == "f" else "g_count", 1))
    head = ["tool", "runs ok", "median wall s", "per object ms", "MB/s", "median CPU s",
            "median peak RSS MiB", "TCP conns opened (carrying requests)", "peak parallel GETs",
            "served / size", "peak threads (host's own)"]
    if scn == "g":
        head += ["fastest object s", "slowest object s", "slowest / fastest", "ideal s", "wall / ideal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    ideal = multi_ideal(scn, meta)
    for tool in tools_in(stats):
        s, x = stats[tool], extra.get((scn, tool), {})
        mbps = s["size"] / s["wall"] / 1e6 if s["wall"] and s["size"] else None
        runs = f"{s['ok']}/{s['n']}"
        if s["notes"]:
            runs += " (" + "; ".join(s["notes"])[:60] + ")"
        pt, ht = med(x.get("peak_threads", [])), med(x.get("host_threads", []))
        acc = med(x.get("accepted", []))
        conns = f"{fmt_int(acc)} ({fmt_int(s['conns'])})" if acc is not None else fmt_int(s["conns"])
        cells = [tool, runs, fnum(s["wall"]), fnum(s["wall"] * 1000 / count) if s["wall"] else "—",
                 fnum(mbps, 1) if mbps else "—", fnum(s["cpu"]), fnum(s["rss"], 1),
                 conns, fmt_int(s["peak"]),
                 f"{s['sent'] / s['size']:.2f}" if s["sent"] and s["size"] else "—",
                 f"{fmt_int(pt)} ({fmt_int(ht)})" if pt else "—"]
        if scn == "g":
            fa, sl = med(x.get("fastest", [])), med(x.get("slowest", []))
            cells += [fnum(fa), fnum(sl), ratio(sl, fa), fnum(ideal), ratio(s["wall"], ideal)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def multi_notes(scn, stats, extra, meta):
    """f and g against issue 9's targets"""
    notes = []
    pf = stats.get("pf-client")
    if not pf or not pf["wall"]:
        return notes
    budget = int(meta.get("g_budget", 8))
    x = extra.get((scn, "pf-client"), {})
    if scn == "f":
        count = int(meta.get("f_count", 1))
        cl = stats.get("curl-loop")
        if cl and cl["wall"]:
            r = pf["wall"] / cl["wall"]
            notes.append(f"pf-client per object {pf['wall'] * 1000 / count:.2f} ms, curl-loop "
                         f"{cl['wall'] * 1000 / count:.2f} ms: {r:.2f} x; target (<= 1.00) "
                         f"{'met' if r <= 1.0 else 'not met'}")
        acc = med(x.get("accepted", []))
        opened = acc if acc is not None else pf["conns"]
        if opened is not None:
            notes.append(f"pf-client opened {fmt_int(opened)} TCP connections for {count} objects"
                         f"{'' if acc is not None else ' (that carried requests)'}; "
                         f"target (<= the per-host budget, {budget}) "
                         f"{'met' if opened <= budget else 'not met'}")
    if scn == "g":
        ideal = multi_ideal(scn, meta)
        notes.append(f"pf-client {pf['wall']:.2f} s = {pf['wall'] / ideal:.2f} x the ideal for "
                     f"{budget} connections ({ideal:.2f} s)")
        fa, sl = med(x.get("fastest", [])), med(x.get("slowest", []))
        if fa and sl:
            notes.append(f"fairness: slowest object {sl:.2f} s, fastest {fa:.2f} s ({sl / fa:.2f} x)")
    if pf["rss"]:
        notes.append(f"pf-client peak RSS {pf['rss']:.1f} MiB; target (<= {RSS_TARGET_MIB} MiB) "
                     f"{'met' if pf['rss'] <= RSS_TARGET_MIB else 'not met'}")
    pt, ht = med(x.get("peak_threads", [])), med(x.get("host_threads", []))
    if pt:
        notes.append(f"pf-client peak threads {fmt_int(pt)}, of which the host's own {fmt_int(ht)} "
                     f"(main, the sampler, its downloaders): the engine's {fmt_int(pt - ht)}")
    return notes


def target_notes(scn, stats, meta):
    """One-line facts against issue 4's and issue 8's targets."""
    cap = float(meta.get("cap", 8388608))
    notes = []
    pf, pf16 = stats.get("parfetch"), stats.get("parfetch-n16")
    peers = {t: stats[t]["wall"] for t in PEERS_16 if t in stats and stats[t]["wall"]}
    fastest = min(peers.items(), key=lambda kv: kv[1]) if peers else None
    if scn in ("b", "d") and pf16 and pf16["wall"] and pf16["size"]:
        ideal16 = pf16["size"] / (16 * cap)
        notes.append(f"parfetch -n 16: {pf16['wall']:.2f} s = {pf16['wall'] / ideal16:.2f} x the "
                     f"16-stream ideal ({ideal16:.2f} s)")
    if scn in ("b", "d") and pf and pf["wall"] and pf["size"] and streams_for("parfetch", pf):
        n = streams_for("parfetch", pf)
        ideal = pf["size"] / (n * cap)
        notes.append(f"parfetch (default, {fmt_int(n)} streams): {pf['wall']:.2f} s = "
                     f"{pf['wall'] / ideal:.2f} x its ideal ({ideal:.2f} s)")
    if scn in ("b", "c", "d") and pf16 and pf16["wall"] and fastest:
        notes.append(f"fastest 16-stream peer: {fastest[0]} {fastest[1]:.2f} s; parfetch -n 16 / it "
                     f"= {pf16['wall'] / fastest[1]:.2f}")
    if scn.startswith("a") and pf and pf["wall"]:
        if "curl" in stats and stats["curl"]["wall"]:
            notes.append(f"parfetch / curl wall: {pf['wall'] / stats['curl']['wall']:.2f}")
        if "aria2c" in stats and stats["aria2c"]["cpu"]:
            notes.append(f"parfetch / aria2c CPU: {pf['cpu'] / stats['aria2c']['cpu']:.2f}")
    if scn == "h":
        for t in tools_in(stats):
            s = stats[t]
            met = s["ok"] == s["n"] and s["wall"] is not None and s["wall"] <= H_TARGET_S
            notes.append(f"{t}: {s['ok']}/{s['n']} runs correct, median {fnum(s['wall'])} s, max "
                         f"{fnum(s['max'])} s; target (all correct, median <= {H_TARGET_S:g} s) "
                         f"{'met' if met else 'not met'}")
    if scn == "e" and pf and pf["wall"] and "curl" in stats and stats["curl"]["wall"]:
        r = pf["wall"] / stats["curl"]["wall"]
        notes.append(f"parfetch / curl wall: {r:.2f}; target (<= {E_TARGET:g}) {'met' if r <= E_TARGET else 'not met'}")
        if "aria2c" in stats and stats["aria2c"]["cpu"]:
            notes.append(f"parfetch / aria2c CPU: {pf['cpu'] / stats['aria2c']['cpu']:.2f}")
    if scn.startswith("i-"):
        pfs = stats.get("parfetch")
        for peer in ("curl", "aria2c"):
            ps = stats.get(peer)
            if not (pfs and ps):
                continue
            if pfs["wall"] and ps["wall"]:
                notes.append(f"parfetch / {peer} wall: {pfs['wall'] / ps['wall']:.2f}")
            elif not pfs["wall"] and ps["wall"]:
                notes.append(f"parfetch: no run finished ({'; '.join(pfs['notes'])}); {peer} median "
                             f"{ps['wall']:.2f} s")
    for t in ("parfetch", "parfetch-n16"):
        if t in stats and stats[t]["rss"]:
            notes.append(f"{t} peak RSS {stats[t]['rss']:.1f} MiB")
    return notes


def scenario_header(scn, meta, sizes):
    size = sizes.get(scn)
    mib = f"{size / 1048576:.0f} MiB" if size else "?"
    cap = int(meta.get("cap", 8388608))
    if scn.startswith("a"):
        return f"({scn}) {SCENARIO_TITLE['a']}: {mib} from nginx on 127.0.0.1"
    if scn == "b":
        return f"({scn}) {SCENARIO_TITLE['b']}: {mib}, every connection paced at {cap / 1048576:g} MiB/s"
    if scn == "c":
        return f"({scn}) {SCENARIO_TITLE['c']}: {mib}, {meta.get('rtt_ms', '40')} ms RTT (namespaces + TUN delay line)"
    if scn == "d":
        return (f"({scn}) {SCENARIO_TITLE['d']}: {mib}, {cap / 1048576:g} MiB/s per connection, connection "
                f"#{meta.get('slow_nth', '2')} of each run at {int(meta.get('slow_rate', 100000)) / 1000:g} kB/s")
    if scn == "h":
        return (f"(h) {SCENARIO_TITLE['h']}: {mib} at 8 streams through pfproxy --chaos, one seed per "
                f"round ({meta.get('h_runs', '?')} seeds, the same for every tool), mix "
                f"{meta.get('h_mix', '?')}, stalls of {int(meta.get('h_stall_ms', 40000)) / 1000:g} s")
    if scn == "e":
        return f"(e) {SCENARIO_TITLE['e']}: {mib} over HTTPS from nginx on 127.0.0.1"
    if scn == "f":
        return (f"(f) {SCENARIO_TITLE['f']}: {meta.get('f_count', '?')} objects of 4 KiB to 2 MiB "
                f"({mib} in all), one after another")
    if scn == "g":
        return (f"(g) {SCENARIO_TITLE['g']}: {meta.get('g_count', '?')} objects of "
                f"{int(meta.get('g_size', 0)) / 1048576:g} MiB at once, {cap / 1048576:g} MiB/s per "
                f"connection, budget {meta.get('g_budget', '8')} connections")
    if scn.startswith("i-"):
        return (f"({scn}) {SCENARIO_TITLE['i']}: {mib} through pfproxy, {rtt_of(scn)} ms round trip, "
                f"window {int(meta.get('i_window', 4194304)) / 1048576:g} MiB per connection, no bandwidth limit")
    return scn


def rtt_of(scn):
    """i-rtt400ms -> '400'"""
    return scn[len("i-rtt"):-len("ms")] if scn.startswith("i-rtt") and scn.endswith("ms") else "?"


def short_title(scn, meta, sizes):
    size = sizes.get(scn)
    mib = f"{size / 1048576:.0f} MiB" if size else "?"
    cap = int(meta.get("cap", 8388608)) / 1048576
    if scn.startswith("a"):
        return f"({scn}) {mib}, loopback"
    if scn == "b":
        return f"(b) {mib}, {cap:g} MiB/s per conn"
    if scn == "c":
        return f"(c) {mib}, {meta.get('rtt_ms', '40')} ms RTT"
    if scn == "d":
        return f"(d) {mib}, {cap:g} MiB/s per conn,\none conn at {int(meta.get('slow_rate', 100000)) / 1000:g} kB/s"
    if scn == "h":
        return f"(h) {mib}, chaos, 8 streams"
    if scn == "e":
        return f"(e) {mib}, HTTPS, loopback"
    if scn == "f":
        return f"(f) {meta.get('f_count', '?')} objects, {mib}"
    if scn == "g":
        return f"(g) {meta.get('g_count', '?')} objects at once, {cap:g} MiB/s per conn"
    if scn.startswith("i-"):
        return f"({scn}) {mib}, {rtt_of(scn)} ms RTT (proxy)"
    return scn


def plot(path, scns, per_scn, meta, sizes):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"report.py: matplotlib is missing; no plot (Debian: python3-matplotlib)", file=sys.stderr)
        return
    cap = float(meta.get("cap", 8388608))
    ncols = min(3, len(scns))
    nrows = (len(scns) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.6 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(scns):]:
        ax.set_visible(False)
    colors = {"parfetch": "#d62728", "parfetch-n16": "#ff7f0e", "aria2c": "#1f77b4", "axel": "#2ca02c",
              "wget2": "#9467bd", "rclone": "#8c564b", "curl": "#7f7f7f", "parfetch-n8": "#e377c2",
              "aria2c-x8": "#17becf", "axel-n8": "#bcbd22"}
    for ax, scn in zip(flat, scns):
        stats = per_scn[scn]
        tools = tools_in(stats)
        ys = list(range(len(tools)))[::-1]
        for y, t in zip(ys, tools):
            s = stats[t]
            if s["wall"]:
                ax.barh(y, s["wall"], color=colors.get(t, "#17becf"))
                ax.text(s["wall"], y, f" {s['wall']:.2f}", va="center", fontsize=8)
            elif s["fail_wall"]:
                ax.barh(y, s["fail_wall"], color="white", edgecolor="black", hatch="//")
                to = [n for n in s["notes"] if n.startswith("timeout")]
                ax.text(s["fail_wall"], y, " " + (to[0].replace(">", " > ") if to else "failed"),
                        va="center", fontsize=8)
        if scn in ("b", "d") and sizes.get(scn):
            ideal = sizes[scn] / (16 * cap)
            ax.axvline(ideal, color="black", ls="--", lw=1)
            ax.text(ideal, len(tools) - 0.45, " ideal@16", fontsize=7, va="bottom")
        ax.set_yticks(ys)
        ax.set_yticklabels(tools)
        vals = [s["wall"] or s["fail_wall"] for s in stats.values() if s["wall"] or s["fail_wall"]]
        if scn in ("b", "d") and sizes.get(scn):
            vals.append(sizes[scn] / (16 * cap))
        lo, hi = (min(vals), max(vals)) if vals else (0.1, 1)
        if hi / lo > 8:
            ax.set_xscale("log")
            ax.set_xlim(10 ** math.floor(math.log10(lo * 0.9)), hi * 4)
            ax.set_xlabel("median wall time, s (log scale)")
        else:
            ax.set_xlim(0, hi * 1.3)
            ax.set_xlabel("median wall time, s")
        ax.set_title(short_title(scn, meta, sizes), fontsize=9)
    fig.suptitle("parfetch bench: median wall time per tool (lower is better)", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"report.py: plot written to {path}", file=sys.stderr)


def report(args):
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    base = os.path.dirname(os.path.abspath(args.csv))
    meta = read_kv(args.meta or os.path.join(base, "meta.txt"))
    verify = args.verify or os.path.join(base, "verify.txt")
    env = args.env or os.path.join(base, "env.txt")
    per = defaultdict(list)
    for r in rows:
        per[r["scenario"]].append(r)
    scns = sorted(per, key=lambda s: (s[0], s != s[0], -int(per[s][0].get("bytes") or 0), s))
    per_scn = {s: summarize(per[s]) for s in scns}
    sizes = {s: int(per[s][0]["bytes"]) for s in scns if per[s][0].get("bytes")}
    extra = read_extra(os.path.join(base, "extra.csv"), rows)

    out = []
    if os.path.exists(env):
        out.append("```\n" + open(env).read().rstrip() + "\n```\n")
    if os.path.exists(verify) and os.path.getsize(verify):
        out.append("Measured set-up:\n\n```\n" + open(verify).read().rstrip() + "\n```\n")
    for s in scns:
        out.append(f"### {scenario_header(s, meta, sizes)}\n")
        if s in ("f", "g"):
            out.append(multi_table(s, per_scn[s], extra, meta) + "\n")
            notes = multi_notes(s, per_scn[s], extra, meta)
        else:
            out.append(table(s, per_scn[s], meta) + "\n")
            notes = target_notes(s, per_scn[s], meta)
        if notes:
            out.append("\n".join(f"- {n}" for n in notes) + "\n")
    text = "\n".join(out)
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    if args.plot:
        plot(args.plot, scns, per_scn, meta, sizes)


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "logstats":
        p = argparse.ArgumentParser(prog="report.py logstats")
        p.add_argument("--log", required=True)
        p.add_argument("--raw", required=True)
        p.add_argument("--size", required=True)
        logstats(p.parse_args(argv[1:]))
        return
    p = argparse.ArgumentParser(prog="report.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", default=os.path.join(HERE, "results", "latest", "results.csv"))
    p.add_argument("--plot", default=os.path.join(ROOT, "docs", "bench.png"),
                   help="PNG path ('' for none)")
    p.add_argument("--md", default=None, help="also write the Markdown here")
    p.add_argument("--meta", default=None)
    p.add_argument("--verify", default=None)
    p.add_argument("--env", default=None)
    report(p.parse_args(argv))


if __name__ == "__main__":
    main()
