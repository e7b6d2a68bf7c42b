#!/usr/bin/env bash
# Checks that bench/compare.sh scores what it checked: a short run of the
# real script (debug build, no release builds, about 30 s) with tether and a
# deliberately wrong echo server (right lengths, one wrong byte per message,
# bench/peers/wrong_echo.py) must give tether a rate above zero and the
# wrong server exactly zero, and print the ratio column with its spread;
# a server that does not start must fail the run and be named.
#
#   scripts/bench-trust-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
debug_build
OUT="target/bench-trust"
rm -rf "$OUT"
bench/compare.sh --tether target/debug/tether --servers tether,wrong-echo \
    --workloads echo-10x1KiB,echo-10x16KiB --rounds 2 --duration 0.5 --warmup 0.2 --out "$OUT"

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows = {(r["server"], r["workload"]): r for r in json.load(open(f"{out}/compare.json"))}
runs = [json.loads(line) for line in open(f"{out}/runs.jsonl")]
for w in ("echo-10x1KiB", "echo-10x16KiB"):
    good, bad = rows[("tether", w)], rows[("wrong-echo", w)]
    assert good["errors"] == 0 and good["msg_per_server_cpu_s"] > 0, good
    assert bad["errors"] > 0 and bad["msg_per_server_cpu_s"] == 0 and bad["msg_per_s"] == 0, bad
    # Every run was checked, and the runs of a workload ran back to back.
    assert all(r["check"] for r in runs if r["workload"] == w), w
order = [(r["round"], r["workload"]) for r in runs]
assert order == sorted(order, key=lambda k: (k[0], ["echo-10x1KiB", "echo-10x16KiB"].index(k[1]))), order
md = open(f"{out}/compare.md").read()
assert "a row with an error in any round scores 0" in md, md
# The ratio column: the median of within-round ratios, a tie when the spread includes 1.
sys.path.insert(0, "bench")
import summarize
def rounds(*pairs):
    return [{"server": s, "workload": "echo-x", "round": i, "msg_per_server_cpu_s": v, "errors": 0}
            for i, (t, f) in enumerate(pairs) for s, v in (("tether", t), ("fastwebsockets", f))]
tie = summarize.round_ratios(rounds((110, 100), (90, 100), (105, 100)), "tether", "fastwebsockets",
                             "echo-x", "msg_per_server_cpu_s")
assert summarize.ratio_cell(tie) == "tie: 1.05× (0.90–1.10)", summarize.ratio_cell(tie)
ahead = summarize.round_ratios(rounds((110, 100), (120, 100), (115, 100)), "tether", "fastwebsockets",
                               "echo-x", "msg_per_server_cpu_s")
assert summarize.ratio_cell(ahead) == "1.15× (1.10–1.20)", summarize.ratio_cell(ahead)
print("bench trust test: the wrong echo scored 0, tether", rows[("tether", "echo-10x1KiB")]["msg_per_s"], "msg/s")
PY

# A server that does not start fails the run and is named under the table
# (a table must not lack a peer silently): here one that exits at once.
if TETHER_BEFORE=/bin/false bench/compare.sh --tether target/debug/tether --servers tether-before \
    --workloads echo-10x1KiB --rounds 1 --duration 0.2 --warmup 0.1 --out "$OUT/missing" 2> /dev/null; then
    echo "bench trust test: compare.sh passed though its server did not start" >&2
    exit 1
fi
grep -q -- '- `tether-before` (runs missed: 1;' "$OUT/missing/compare.md" || {
    echo "bench trust test: the server that did not start is not named in compare.md" >&2
    exit 1
}
echo "bench trust test: a server that did not start failed the run and was named"
