#!/usr/bin/env python3
"""The rows of issue 15 from a runs file of bench/compare.sh: axum + tether
against axum's own WebSocket (and against plain `tether echo`), and
WebSockets over HTTP/2 against HTTP/1.1 on the same server.

    python3 bench/rows15.py target/bench/runs.jsonl [--out target/bench/rows15.md]

Each ratio is per server CPU-second (messages, or setups), taken within a
round (runs seconds apart) and summarised as the median over the rounds
with the lowest and highest beside it; when that range holds 1.0 the row
is a tie. A run with errors (a wrong byte included) counts as zero. Idle
memory is compared as KiB per connection, lower is better, so its ratio is
the other way round (B / A): above 1 still means A is ahead.
"""
import argparse
import json
import statistics

# (label, numerator server, denominator server, workload filter)
PAIRS = [
    ("axum + tether ÷ axum's own", "axum-tether", "axum-builtin", lambda w: not w.startswith("deflate-")),
    ("axum + tether ÷ tether echo", "axum-tether", "tether", lambda w: not w.startswith(("deflate-", "h1-", "h2-"))),
    ("axum + tether (deflate) ÷ tether echo", "axum-tether-deflate", "tether", lambda w: w.startswith("deflate-")),
]
# HTTP/2 row -> its HTTP/1.1 row, same server, same client code.
H2_ROWS = {"h2-echo-100x20B": "h1-echo-100x20B", "h2-echo-10x16KiB": "h1-echo-10x16KiB", "h2-setup-16": "h1-setup-16"}


def score(run):
    """Per server CPU-second, or for idle memory KiB per connection; 0 with errors."""
    if run.get("errors"):
        return 0.0
    if run.get("rss_kb_per_conn") is not None:
        return run["rss_kb_per_conn"]
    return run.get("msg_per_server_cpu_s") or 0.0


def generator_bound(run):
    """The generator used over 90 % of its core: the server may be faster than shown."""
    window = run.get("window_s") or 0
    return bool(window) and (run.get("client_cpu_s") or 0) > 0.9 * window


def note(runs):
    bound = sorted({f"{r['server']} {r['workload']}" for r in runs if generator_bound(r)})
    failed = sorted({f"{r['server']} {r['workload']}" for r in runs if r.get("errors")})
    notes = ([f"generator-bound: {', '.join(bound)}"] if bound else []) + (
        [f"errors, scored 0: {', '.join(failed)}"] if failed else [])
    return f" ({'; '.join(notes)})" if notes else ""


def ratio(a, b, idle):
    if idle:
        a, b = b, a
    return a / b if b else None


def summary(ratios):
    ratios = [r for r in ratios if r is not None]
    if not ratios:
        return "no data"
    med, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
    if len(ratios) < 2:
        return f"{med:.2f}× (one round, no spread: direction only)"
    verdict = "tie" if lo <= 1.0 <= hi else ("ahead" if med > 1 else "behind")
    return f"{med:.2f}× ({lo:.2f}–{hi:.2f}, {len(ratios)} rounds): {verdict}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--out")
    args = ap.parse_args()
    by = {}
    with open(args.runs) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by[(r.get("server"), r.get("workload"), r.get("round"))] = r
    rounds = sorted({k[2] for k in by})
    workloads = list(dict.fromkeys(k[1] for k in by))
    out = ["| comparison | workload | median ratio (range): verdict |", "|---|---|---|"]
    for label, a, b, applies in PAIRS:
        for w in filter(applies, workloads):
            pairs = [(by.get((a, w, n)), by.get((b, w, n))) for n in rounds]
            pairs = [(x, y) for x, y in pairs if x and y]
            rs = [ratio(score(x), score(y), w.startswith("idle-")) for x, y in pairs]
            if rs:
                out.append(f"| {label} | {w} | {summary(rs)}{note([r for p in pairs for r in p])} |")
    servers = list(dict.fromkeys(k[0] for k in by))
    for s in servers:
        for h2, h1 in H2_ROWS.items():
            pairs = [(by[(s, h2, n)], by[(s, h1, n)]) for n in rounds if (s, h2, n) in by and (s, h1, n) in by]
            rs = [ratio(score(x), score(y), False) for x, y in pairs]
            if rs:
                out.append(f"| {s}: HTTP/2 ÷ HTTP/1.1 | {h2} ÷ {h1} | {summary(rs)}{note([r for p in pairs for r in p])} |")
    text = "\n".join(out) + "\n"
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
