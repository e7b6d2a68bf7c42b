"""Medians of bench/compare.sh's runs: target/bench/compare.json and compare.md.

    python3 bench/summarize.py RUNS.jsonl OUTDIR --command "bench/compare.sh --quick" \
        --rounds 3 --duration 1 --warmup 0.3

compare.json is a list of rows, one per server and workload, with `server`,
`workload`, `msg_per_s`, `msg_per_server_cpu_s`, `mb_per_s`, `p50_us`,
`p99_us`, `rss_kb_per_conn` (idle workload), plus `errors` (summed over the
rounds), `rounds`, `client_cpu_share` and `server_cpu_share` (CPU / window:
a generator near 1.0 with a server below it means the generator was the limit),
`server_user_share` (the part of the server's CPU time spent in user space, not
in the kernel) and, for the echo workloads, `pct_of_raw_tcp` (payload MB/s
against the raw TCP echo).

Scoring rules: a throughput row (echo, large, pipelined, deflate) with any
error in any round scores zero (its runs check every echoed byte, so a server
that echoes wrong bytes gets nothing); the ratio against fastwebsockets is the
median of the within-round ratios, with their spread, and a spread that
includes 1.00 is printed as a tie.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess

THROUGHPUT = ("echo-", "large-", "pipelined-", "deflate-", "tls-echo-")
SCORES = ["msg_per_s", "msg_per_server_cpu_s", "mb_per_s"]
FIELDS = ["msg_per_s", "msg_per_server_cpu_s", "mb_per_s", "p50_us", "p99_us", "rss_kb_per_conn",
          "kernel_tcp_buffers_kb_per_conn", "kernel_slab_kb_per_conn"]
SERVER_ORDER = ["tether", "tether-before", "tether-mt", "fastwebsockets", "tokio-tungstenite", "tokio-websockets",
                "node-ws", "python-websockets", "raw-tcp", "raw-setup", "raw-setup-fin", "raw-setup-defer", "tether-flush", "tether-hub", "tether-hub-before", "node-ws-rooms",
                "python-websockets-rooms", "uws-rooms", "raw-tcp-rooms", "tether-tls", "fastwebsockets-tls", "tokio-tungstenite-tls", "raw-tls"]
# The fan-out rows' ratios: tether-hub against each of these, round by round
# (tether-hub-before: another build of the hub, in before/after runs).
FANOUT_PEERS = ["tether-hub-before", "node-ws-rooms", "python-websockets-rooms", "uws-rooms", "raw-tcp-rooms"]


def reference(workload):
    """The server a row is compared with, and the raw echo it is a share of:
    the TLS rows have their own (the same libraries over rustls)."""
    return ("fastwebsockets-tls", "raw-tls") if workload.startswith("tls-") else ("fastwebsockets", "raw-tcp")


def limit(workload, present=()):
    """The server that does no more than a row needs, with no library: the
    raw TCP echo for the echo rows, the raw setup for the setup row: the
    one whose listener is set up as tether's (deferred accept),
    `raw-setup-defer`, where the run has it; else the one that sends its
    close frame and FIN in one segment, `raw-setup-fin` (runs before
    2026-12-03 have `raw-setup` only)."""
    if workload.startswith(("echo-", "pipelined-", "large-")):
        return "raw-tcp"
    if workload == "setup":
        return next((s for s in ("raw-setup-defer", "raw-setup-fin") if s in present), "raw-setup")
    return None


def limit_ratios(by, workloads):
    """tether ÷ the row's limit and ÷ the two nearest peers, per server
    CPU-second, round by round: issue 17's echo and setup targets in one
    table (the TLS rows have their own, against fastwebsockets-tls)."""
    present = {s for s, _ in by}
    rows = [w for w in workloads if limit(w) and by.get(("tether", w), {}).get("ratios")]
    if not rows:
        return []
    out = ["", "**tether ÷ the limit and the nearest peers**, per server CPU-second, median of the "
           "within-round ratios (spread); the limit is `raw-tcp` on the echo rows and "
           f"`{limit('setup', present)}` on the setup row:", "",
           "| workload | ÷ the limit | ÷ fastwebsockets | ÷ tokio-websockets |", "|---|---|---|---|"]
    for w in rows:
        ratios = by[("tether", w)]["ratios"]
        out.append("| " + " | ".join([w] + [ratio_cell(ratios.get(p)) for p in
                                             (limit(w, present), "fastwebsockets", "tokio-websockets")]) + " |")
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return cores, model


def summarize(runs):
    groups = {}
    for r in runs:
        groups.setdefault((r["server"], r["workload"]), []).append(r)
    rows = []
    for (server, workload), rs in groups.items():
        row = {"server": server, "workload": workload}
        for f in FIELDS:
            row[f] = median(r.get(f) for r in rs)
        row["errors"] = sum(r.get("errors") or 0 for r in rs)
        if workload.startswith("fanout-"):
            # Every lost or repeated delivery of every round counts.
            row["lost"] = sum(r.get("lost") or 0 for r in rs)
            row["duplicated"] = sum(r.get("duplicated") or 0 for r in rs)
        row["rounds"] = len(rs)
        sizes = {r.get("size") for r in rs}
        row["size"] = sizes.pop() if len(sizes) == 1 else None
        if workload.startswith(THROUGHPUT) and row["errors"]:
            # Wrong echoes (or a broken run) score nothing, whatever their rate.
            for f in SCORES:
                row[f] = 0
        shares = [r["client_cpu_s"] / r["window_s"] for r in rs if r.get("client_cpu_s") is not None and r.get("window_s")]
        row["client_cpu_share"] = round(median(shares), 2) if shares else None
        served = [r["server_cpu_s"] / r["window_s"] for r in rs if r.get("server_cpu_s") is not None and r.get("window_s")]
        row["server_cpu_share"] = round(median(served), 2) if served else None
        user = [r["server_user_cpu_s"] / r["server_cpu_s"] for r in rs
                if r.get("server_user_cpu_s") is not None and r.get("server_cpu_s")]
        row["server_user_share"] = round(median(user), 3) if user else None
        negotiated = sorted({r["tls"] for r in rs if r.get("tls")})
        if negotiated:
            row["tls"] = " | ".join(negotiated)
        samples = [s for r in rs for s in r.get("error_samples") or []]
        if samples:
            row["error_samples"] = samples[:3]
        rows.append(row)
    raw = {r["workload"]: r["mb_per_s"] for r in rows if r["server"] == reference(r["workload"])[1]}
    for r in rows:
        if r["server"] != reference(r["workload"])[1] and raw.get(r["workload"]) and r["mb_per_s"] is not None:
            r["pct_of_raw_tcp"] = round(100 * r["mb_per_s"] / raw[r["workload"]], 1)
    order = {s: i for i, s in enumerate(SERVER_ORDER)}
    present = {r["server"] for r in runs}
    workloads = []
    for r in runs:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    rows.sort(key=lambda r: (workloads.index(r["workload"]), order.get(r["server"], 99), r["server"]))
    for r in rows:
        for f in ("msg_per_server_cpu_s", "msg_per_s"):
            ref = reference(r["workload"])[0]
            ratio = round_ratios(runs, r["server"], ref, r["workload"], f)
            if ratio and r["server"] != ref:
                r.setdefault("ratio_to_fastwebsockets", {})[f] = ratio
        if r["server"] == "tether":
            ratio = round_ratios(runs, "tether", "tether-before", r["workload"], "msg_per_server_cpu_s")
            if ratio:
                r["ratio_to_tether_before"] = ratio
            for peer in filter(None, (limit(r["workload"], present), "fastwebsockets", "tokio-websockets")):
                ratio = round_ratios(runs, "tether", peer, r["workload"], "msg_per_server_cpu_s")
                if ratio:
                    r.setdefault("ratios", {})[peer] = ratio
        if r["server"] == "tether-hub" and r["workload"].startswith("fanout-"):
            for peer in FANOUT_PEERS:
                ratio = round_ratios(runs, "tether-hub", peer, r["workload"], "msg_per_server_cpu_s")
                if ratio:
                    r.setdefault("fanout_ratios", {})[peer] = ratio
    return rows, workloads


def round_ratios(runs, a, b, workload, field):
    """`a` ÷ `b` on `field`, round by round (runs seconds apart), as the
    median and the spread (lowest, highest), or None if no round has both."""
    by_round = {}
    for r in runs:
        if r["workload"] == workload and r["server"] in (a, b):
            by_round.setdefault(r.get("round"), {})[r["server"]] = r
    ratios = []
    for pair in by_round.values():
        x, y = pair.get(a), pair.get(b)
        if not x or not y:
            continue
        if workload.startswith(THROUGHPUT) and (x.get("errors") or y.get("errors")):
            continue
        if x.get(field) is not None and y.get(field):
            ratios.append(x[field] / y[field])
    if not ratios:
        return None
    # Unrounded: rounding here and again when printing turned 0.8747 into 0.88.
    return {"median": statistics.median(ratios), "low": min(ratios), "high": max(ratios), "rounds": len(ratios)}


def ratio_cell(ratio):
    """`0.95× (0.91–0.98)`; a spread that includes 1.00 is a tie."""
    if not ratio:
        return "–"
    text = f"{ratio['median']:.2f}×"
    if ratio["rounds"] > 1:
        text += f" ({ratio['low']:.2f}–{ratio['high']:.2f})"
        if ratio["low"] <= 1.0 <= ratio["high"]:
            text = "tie: " + text
    return text


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def size_label(size):
    """A payload size as the workloads name it: 20 B, 2 KiB, 1 MiB."""
    if size is None:
        return "size not recorded"
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def matrix(rows, workloads, servers, field, digits=0, ratio=False):
    by = {(r["server"], r["workload"]): r for r in rows}
    head = ["workload"] + servers + (["tether ÷ fastwebsockets (spread)"] if ratio else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        cells = [w]
        if all((s, w) not in by or by[(s, w)].get(field) is None for s in servers):
            continue
        for s in servers:
            r = by.get((s, w))
            cell = fmt(r.get(field), digits) if r else ""
            if r and r["errors"]:
                cell += f" ({r['errors']} err)"
            cells.append(cell)
        if ratio:
            t = by.get(("tether", w))
            cells.append(ratio_cell(t.get("ratio_to_fastwebsockets", {}).get(field)) if t else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flush_ratios(rows):
    """The pipelined rows with the same loop on both sides: tether-flush ÷ fastwebsockets."""
    out = []
    for r in rows:
        ratio = r.get("ratio_to_fastwebsockets", {}).get("msg_per_server_cpu_s")
        if r["server"] == "tether-flush" and ratio:
            out.append(f"{r['workload']}, both flushing every echo: tether-flush ÷ fastwebsockets {ratio_cell(ratio)}.")
    return ["", *out] if out else []


def before_ratios(rows):
    """A before/after run (`tether-before`, another build of `tether echo`):
    tether ÷ tether-before per server CPU-second, round by round."""
    out = [f"{r['workload']}: tether ÷ tether-before {ratio_cell(r['ratio_to_tether_before'])}."
           for r in rows if r.get("ratio_to_tether_before")]
    return ["", *out] if out else []


def fanout_ratios(by, fanout):
    """tether-hub ÷ each room peer per server CPU-second, round by round
    (against raw-tcp-rooms: the share of the physical limit tether reaches)."""
    peers = [p for p in FANOUT_PEERS if any("fanout_ratios" in by.get(("tether-hub", w), {})
                                             and p in by[("tether-hub", w)]["fanout_ratios"] for w in fanout)]
    if not peers:
        return []
    out = ["", "**tether-hub ÷ each room server**, deliveries per server CPU-second, median of the "
           "within-round ratios (spread):", "",
           "| " + " | ".join(["workload"] + [f"÷ {p}" for p in peers]) + " |", "|" + "---|" * (len(peers) + 1)]
    for w in fanout:
        ratios = by.get(("tether-hub", w), {}).get("fanout_ratios", {})
        out.append("| " + " | ".join([w] + [ratio_cell(ratios.get(p)) for p in peers]) + " |")
    return out


def user_share(rows, workloads, servers):
    """How much of each server's CPU time its own code takes; the rest is the
    kernel's (system calls, TCP). The last column bounds what any server
    making fastwebsockets' system calls could reach against it: its CPU time
    if its user-space time were zero."""
    by = {(r["server"], r["workload"]): r for r in rows}
    if not any(r.get("server_user_share") is not None for r in rows):
        return []
    head = ["workload"] + servers + ["ceiling ÷ fastwebsockets"]
    out = ["", "**Share of the server's CPU time in user space** (the rest is the kernel's: system calls, "
           "loopback TCP). The last column is the most any server making the same system calls could "
           "reach against fastwebsockets per CPU-second, with no user-space time at all "
           "(1 ÷ fastwebsockets' kernel share):", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in workloads:
        cells = [w]
        for s in servers:
            r = by.get((s, w))
            share = r.get("server_user_share") if r else None
            cells.append(f"{100 * share:.0f} %" if share is not None else "")
        fw = by.get(("fastwebsockets", w))
        fw_share = fw.get("server_user_share") if fw else None
        cells.append(f"{1 / (1 - fw_share):.2f}×" if fw_share is not None and fw_share < 1 else "–")
        out.append("| " + " | ".join(cells) + " |")
    return out


def cell_table(by, servers, workloads, title, cell):
    """A titled table of `workloads` x the servers that ran them; `cell` formats a row."""
    if not workloads:
        return []
    shown = [s for s in servers if any((s, w) in by for w in workloads)]
    out = ["", title, "", "| " + " | ".join(["workload"] + shown) + " |", "|" + "---|" * (len(shown) + 1)]
    for w in workloads:
        cells = [w]
        for s in shown:
            r = by.get((s, w))
            cells.append(cell(r) if r and r["msg_per_server_cpu_s"] is not None else "")
        out.append("| " + " | ".join(cells) + " |")
    return out


def tls_table(by, workloads):
    """The wss:// rows: per server CPU-second and per second, the ratio to
    fastwebsockets over the same rustls, and how busy the generator was."""
    if not workloads:
        return []
    servers = [s for s in SERVER_ORDER if s.endswith("-tls") and any((s, w) in by for w in workloads)]
    out = ["", "**TLS (wss://)**: every server presents the same ECDSA P-256 certificate; the generator offers "
           "one cipher suite (TLS13_AES_128_GCM_SHA256) and X25519, with no session resumption (each setup is a "
           "full handshake); `raw-tls` echoes decrypted bytes with no WebSocket. Cells: per server CPU-second / "
           "per second (messages, or handshake + close for tls-setup) / the generator's CPU share of its core:", "",
           "| " + " | ".join(["workload"] + servers + ["tether-tls ÷ fastwebsockets-tls (spread)"]) + " |",
           "|" + "---|" * (len(servers) + 2)]
    for w in workloads:
        cells = [w]
        for s in servers:
            r = by.get((s, w))
            if not r or r["msg_per_server_cpu_s"] is None:
                cells.append("")
                continue
            share = r.get("client_cpu_share")
            cell = f"{fmt(r['msg_per_server_cpu_s'])} / {fmt(r['msg_per_s'])} / " + (
                f"{100 * share:.0f} %" if share is not None else "–")
            cells.append(cell + (f" ({r['errors']} err)" if r["errors"] else ""))
        t = by.get(("tether-tls", w))
        cells.append(ratio_cell(t.get("ratio_to_fastwebsockets", {}).get("msg_per_server_cpu_s")) if t else "–")
        out.append("| " + " | ".join(cells) + " |")
    negotiated = sorted({r["tls"] for (s, w), r in by.items() if w in workloads and r.get("tls")})
    out += ["", "Negotiated in every run: " + " and ".join(f"`{n}`" for n in negotiated) + "."
            if len(negotiated) == 1 else "Negotiated: " + ", ".join(negotiated) + " (not one suite: check the servers)."]
    return out


def markdown(rows, workloads, meta):
    every = [s for s in SERVER_ORDER if any(r["server"] == s for r in rows)]
    every += sorted({r["server"] for r in rows} - set(every))
    echo = [w for w in workloads if w.startswith(("echo-", "pipelined-", "large-"))]
    by = {(r["server"], r["workload"]): r for r in rows}
    # The echo tables show the servers that ran echo workloads (not the room servers).
    servers = [s for s in every if any((s, w) in by for w in echo)] or every
    ws_servers = [s for s in servers if s != "raw-tcp"]
    out = [
        f"Measured {meta['date']} on {meta['cores']} cores ({meta['cpu']}) with `{meta['command']}`: "
        f"{meta['rounds']} rounds, {meta['duration']} s per workload after {meta['warmup']} s "
        "of warm-up, medians. Within a round every server runs one workload back to back (a fresh process "
        "each, the order rotated each round) before the next workload starts; the ratio column is the "
        "median of those within-round ratios with their spread (lowest–highest), and a spread that "
        "includes 1.00 is a tie. Every echo run compares every echoed byte with what was sent "
        "(`--check`); a row with an error in any round scores 0. Each server pinned to core 0 (`taskset -c 0`), the generator "
        "(`tether bench`, one thread) to core 1. `tether` runs on a current-thread runtime "
        "(`--threads 1`) like the Rust peers; `tether-mt` is the default multi-thread runtime, "
        "still pinned to one core. `raw-tcp` echoes bytes with no WebSocket (read, then write back what "
        "was read): the reference for what loopback TCP costs; it is not a ceiling for large messages, "
        "where a server that writes a whole message at once makes fewer, larger writes."
        + (" Pipelined rows measure the echo loop as much as the library: `tether` feeds each echo and "
           "writes a burst at once, `tether-flush` is tether with the peers' loop (every echo flushed on "
           "its own)." if any(r["server"] == "tether-flush" for r in rows) else ""),
        "",
        "**Messages per server CPU-second** (echoed messages / CPU time the server used, from /proc/PID/stat):",
        "",
        matrix(rows, echo, servers, "msg_per_server_cpu_s", ratio=True),
        *flush_ratios(rows),
        *before_ratios(rows),
        "",
        "**Messages per second** (closed loop, one message in flight per connection unless the workload says 16):",
        "",
        matrix(rows, echo, servers, "msg_per_s", ratio=True),
        "",
        "**Latency p50 / p99 (µs)**, from each message's scheduled send time:",
        "",
    ]
    head = ["workload"] + servers
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in echo:
        cells = [w]
        for s in servers:
            r = by.get((s, w))
            cells.append(f"{fmt(r['p50_us'])} / {fmt(r['p99_us'])}" if r and r["p50_us"] is not None else "")
        out.append("| " + " | ".join(cells) + " |")
    out += user_share(rows, echo, ws_servers)
    large = [w for w in echo if w.startswith("large-")]
    if large:
        out += ["", "**Large messages: payload MB/s echoed (% of the raw TCP echo)**:", ""]
        out += ["| " + " | ".join(["workload"] + servers) + " |", "|" + "---|" * (len(servers) + 1)]
        for w in large:
            cells = [w]
            for s in servers:
                r = by.get((s, w))
                if not r or r["mb_per_s"] is None:
                    cells.append("")
                elif "pct_of_raw_tcp" in r:
                    cells.append(f"{fmt(r['mb_per_s'])} ({r['pct_of_raw_tcp']:.0f} %)")
                else:
                    cells.append(fmt(r["mb_per_s"]))
            out.append("| " + " | ".join(cells) + " |")
    deflate = [w for w in workloads if w.startswith("deflate-")]
    out += cell_table(by, every, deflate,
                      "**Compressed echo (permessage-deflate)**: JSON chat text from the generator's corpus, "
                      "each message compressed on its own by the generator (it offers `client_no_context_takeover`); "
                      "each server compresses its echoes with its own default settings. "
                      "Messages per server CPU-second / messages per second:",
                      lambda r: f"{fmt(r['msg_per_server_cpu_s'])} / {fmt(r['msg_per_s'])}")
    fanout = [w for w in workloads if w.startswith("fanout-")]
    out += cell_table(by, every, fanout,
                      "**Fan-out through a room server** (`tether bench fanout`: members x publishers x size at "
                      "one publish rate for every server; a delivery is one message reaching one member). "
                      "Deliveries per server CPU-second / deliveries per second / p99 delivery latency (µs) / "
                      "lost + duplicated over all rounds (lost: published in the window and not delivered within "
                      "2 s after it, dropped or still queued):",
                      lambda r: f"{fmt(r['msg_per_server_cpu_s'])} / {fmt(r['msg_per_s'])} / {fmt(r['p99_us'])} / "
                                f"{r.get('lost', 0)} + {r.get('duplicated', 0)}")
    out += fanout_ratios(by, fanout)
    tls = [w for w in workloads if w.startswith("tls-")]
    out += tls_table(by, tls)
    out += limit_ratios(by, workloads)
    other = [w for w in workloads if w not in echo and w not in deflate and w not in fanout and w not in tls]
    # The setup and idle rows' servers: raw-setup runs no echo row.
    setup_servers = [s for s in every if any((s, w) in by for w in other if w.startswith(("setup", "idle")))]
    if other:
        out += ["", "**Connection setup and idle memory**:", ""]
        out += ["| server | setups/s | setups per server CPU-s | setup p50 / p99 (µs) | idle KiB per connection "
                "| kernel KiB per connection (TCP buffers + slab, both ends) "
                "| idle KiB after one compressed message (its size) |",
                "|---|---|---|---|---|---|---|"]
        for s in setup_servers:
            setup = next((by[(s, w)] for w in other if w.startswith("setup") and (s, w) in by), None)
            idle = next((by[(s, w)] for w in other if w.startswith("idle") and not w.endswith("-deflate")
                         and (s, w) in by), None)
            idle_deflate = next((by[(s, w)] for w in other if w.startswith("idle") and w.endswith("-deflate")
                                 and (s, w) in by), None)
            cells = [s]
            cells.append(fmt(setup["msg_per_s"]) if setup else "")
            cells.append(fmt(setup["msg_per_server_cpu_s"]) if setup else "")
            cells.append(f"{fmt(setup['p50_us'])} / {fmt(setup['p99_us'])}" if setup else "")
            cells.append(fmt(idle["rss_kb_per_conn"], 2) if idle else "")
            kernel = (idle or {}).get("kernel_tcp_buffers_kb_per_conn"), (idle or {}).get("kernel_slab_kb_per_conn")
            cells.append(f"{fmt(kernel[0], 2)} + {fmt(kernel[1], 2)}" if None not in kernel else "")
            # The message's size says whose compressor the figure holds: below
            # 1 KiB, tether and Node `ws` echo it uncompressed.
            cells.append(f"{fmt(idle_deflate['rss_kb_per_conn'], 2)} ({size_label(idle_deflate.get('size'))})"
                         if idle_deflate else "")
            out.append("| " + " | ".join(cells) + " |")
    errors = [r for r in rows if r["errors"]]
    # The generator limits a row when it used its whole core while the server did not.
    bound = [r for r in rows if not r["workload"].startswith("idle")
             and (r.get("client_cpu_share") or 0) > 0.9 and (r.get("server_cpu_share") or 1) < 0.9]
    out.append("")
    if errors:
        out.append("Errors: " + "; ".join(
            f"{r['server']} {r['workload']}: {r['errors']} ({' | '.join(r.get('error_samples', []))})" for r in errors))
    else:
        out.append("No errors in any run.")
    if bound:
        out.append("")
        out.append("Generator-bound (the generator used >90 % of its core while the server used <90 % of its "
                   "own, so the server may be faster than shown): "
                   + ", ".join(f"{r['server']} {r['workload']}" for r in bound) + ".")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs")
    p.add_argument("outdir")
    p.add_argument("--command", default="bench/compare.sh")
    p.add_argument("--rounds", default="?")
    p.add_argument("--duration", default="?")
    p.add_argument("--warmup", default="?")
    a = p.parse_args()
    with open(a.runs) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    rows, workloads = summarize(runs)
    cores, cpu = machine()
    meta = {"date": datetime.date.today().isoformat(), "cores": cores, "cpu": cpu, "command": a.command,
            "rounds": a.rounds, "duration": a.duration, "warmup": a.warmup}
    with open(os.path.join(a.outdir, "compare.json"), "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.outdir, "compare.meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.outdir, "compare.md"), "w") as f:
        f.write(markdown(rows, workloads, meta))


if __name__ == "__main__":
    main()
