#!/usr/bin/env bash
# How hubs hear of each other's messages through Redis, measured both ways
# (docs/scale-out.md, "Why pub/sub plus a stream"): every message is ordered
# by one script (INCR, XADD), then announced by PUBLISH to hubs holding one
# pub/sub connection each (`pubsub`, the hub's way), or read by hubs blocked
# in XREAD over every room they serve (`streams`). redis-server is pinned to
# core 0, the publisher and the hubs (one process, crates/tether-hub/
# examples/redis_mechanisms.rs) to core 1. Reports, per mode and row: what
# each hub received, publish-to-hub delay p50/p99/max and Redis's CPU per
# message, one JSON line each, into target/bench/redis-mechanisms.jsonl.
#
#   bench/redis-mechanisms.sh [ROUNDS]
#
# Rows: 3 hubs x 100 rooms at 5,000 and 20,000 msg/s, and 10 hubs x 1,000
# rooms at 5,000 msg/s; 64 B; 5 s after 1 s of warm-up; ROUNDS (default 3)
# rounds, the modes alternating. Not part of the test command.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
rounds=${1:-3}
log() { echo "[redis-mechanisms] $*" >&2; }
command -v redis-server >/dev/null || { log "redis-server not found: run scripts/install-servers.sh"; exit 1; }
cargo build --release --quiet -p tether-hub --features redis --example redis_mechanisms
BIN="$ROOT/target/release/examples/redis_mechanisms"
OUT="$ROOT/target/bench/redis-mechanisms.jsonl"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

for round in $(seq "$rounds"); do
    for row in "3 100 5000" "3 100 20000" "10 1000 5000"; do
        read -r hubs rooms rate <<< "$row"
        modes=(pubsub streams)
        (( round % 2 == 0 )) && modes=(streams pubsub)
        for mode in "${modes[@]}"; do
            line=$(taskset -c 1 "$BIN" --url "redis://127.0.0.1:$port/" --redis-pid "$redis_pid" \
                --clk-tck "$(getconf CLK_TCK)" --mode "$mode" --hubs "$hubs" --rooms "$rooms" --rate "$rate")
            echo "$line" | tee -a "$OUT"
        done
    done
done
log "wrote $OUT"
