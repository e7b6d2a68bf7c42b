#!/usr/bin/env bash
# Peak resident memory of an echo server with 10,000 busy connections: every
# connection in a closed-loop echo (one message in flight each, every byte
# checked), the server's VmHWM read from /proc when the run ends. Three
# cases: 20 B and 16 KiB binary messages, and 1 KiB of JSON text with
# permessage-deflate (tether and the Node and Python peers: the others in
# bench/peers do not compress). Each reading from a fresh server process,
# pinned to core 0, the generator to core 1, as in bench/compare.sh.
#
#   bench/busy-memory.sh               3 rounds, N=10000, 5 s after 2 s of warm-up
#
# ROUNDS, N and BIN (the tether binary; default: the release build) in the
# environment change it. Needs the release builds of bench/compare.sh
# (target/peers/release) and installs the Node and Python peers. Writes one
# JSON line per reading to target/bench/busy-memory.jsonl and prints a
# table of medians. Not part of the test command (about 10 minutes).
#
# With N connections and one generator core, a connection carries about
# one message per N / (messages per second) seconds: at 1 KiB compressed
# (about a thousand messages a second) most connections compress their
# first message inside the window, so that row measures the allocation and
# first touch of each connection's compressor as much as compression.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
rounds=${ROUNDS:-3} n=${N:-10000}
log() { echo "[busy-memory] $*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need_descriptors "$n"
release_tether
eval "$(bench/peers/install.sh)"
export NODE_PATH="$TETHER_BENCH_NODE_PATH"
PEERS="$ROOT/target/peers/release"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
RUNS="$OUT/busy-memory.jsonl"
: > "$RUNS"

declare -A SERVER=(
    [tether]="$BIN echo --listen 127.0.0.1:0 --threads 1 --quiet"
    [fastwebsockets]="$PEERS/fastwebsockets --listen 127.0.0.1:0"
    [tokio-websockets]="$PEERS/tokio_websockets --listen 127.0.0.1:0"
    [tokio-tungstenite]="$PEERS/tokio_tungstenite --listen 127.0.0.1:0"
    [node-ws]="node $ROOT/bench/peers/node_ws_echo.js --listen 127.0.0.1:0"
    [python-websockets]="$TETHER_BENCH_PYTHON $ROOT/bench/peers/py_websockets_echo.py --listen 127.0.0.1:0"
)
servers=(tether fastwebsockets tokio-websockets tokio-tungstenite node-ws python-websockets)
cases=("20" "16KiB" "1KiB --deflate")

server_pid=""
stop() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop EXIT

for round in $(seq "$rounds"); do
    for case in "${cases[@]}"; do
        for name in "${servers[@]}"; do
            if [[ "$case" == *deflate* && "$name" != tether && "$name" != node-ws && "$name" != python-websockets ]]; then
                continue
            fi
            log "round $round, $name, $case"
            # shellcheck disable=SC2086 # the server's command line splits on spaces
            taskset -c 0 ${SERVER[$name]} > "$OUT/busy-memory.url" 2> "$OUT/busy-memory.err" &
            server_pid=$!
            url=$(await_url "$OUT/busy-memory.url" "$server_pid") || { log "$name did not start"; exit 1; }
            before=$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")
            # shellcheck disable=SC2086 # "$case" is a size and maybe --deflate
            report=$(taskset -c 1 "$BIN" bench echo "$url" -c "$n" --source 4 -s $case -d 5 -w 2 --check \
                --server-pid "$server_pid" --json | tail -n1)
            peak=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status")
            stop
            python3 -c 'import json, sys
r = json.loads(sys.argv[6])
r.update(server=sys.argv[1], case=sys.argv[2], round=int(sys.argv[3]),
         rss_kb_before=int(sys.argv[4]), peak_rss_kb=int(sys.argv[5]))
print(json.dumps(r))' "$name" "$case" "$round" "$before" "$peak" "$report" >> "$RUNS"
        done
    done
done

python3 - "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
cases = ["20", "16KiB", "1KiB --deflate"]
names = {"20": "20 B", "16KiB": "16 KiB", "1KiB --deflate": "1 KiB compressed"}
servers = list(dict.fromkeys(r["server"] for r in rows))
print("Peak RSS, MiB (lowest–highest over the rounds) / messages per second, medians; "
      "errors over all rounds if any:\n")
print("| server | " + " | ".join(names[c] for c in cases) + " |")
print("|---|" + "---|" * len(cases))
for s in servers:
    cells = []
    for c in cases:
        rs = [r for r in rows if r["server"] == s and r["case"] == c]
        if not rs:
            cells.append("")
            continue
        peaks = [r["peak_rss_kb"] / 1024 for r in rs]
        cell = (f"{statistics.median(peaks):,.0f} ({min(peaks):,.0f}–{max(peaks):,.0f}) / "
                f"{statistics.median(r['msg_per_s'] for r in rs):,.0f}")
        errors = sum(r.get("errors") or 0 for r in rs)
        cells.append(cell + (f", {errors} errors" if errors else ""))
    print(f"| {s} | " + " | ".join(cells) + " |")
EOF
