#!/usr/bin/env bash
# The two-hub fan-out row: one redis-server and two `tether hub --redis`
# processes pinned to core 0, the generator (`tether bench fanout`) on core 1
# with members spread over both hubs. Reports deliveries/s, delivery latency,
# lost and duplicated deliveries, and the CPU time of each hub and of Redis
# over the whole run (connects, warm-up, window, drain), from /proc.
#
#   bench/fanout-redis.sh
#
# The row is fixed: 500 members, 1 publisher at 100 msg/s, 64 B, for 5 s
# (50,000 deliveries/s); MEMBERS, RATE, SIZE and DURATION in the
# environment change it. Writes target/bench/fanout-redis.json. Not part of
# the test command. `steal_s` is the CPU time the hypervisor took from this
# VM during the run: on 2026-12-02 every p99 over 10 ms came with some.
# TETHER=PATH runs that build of tether instead of building this tree's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
members=${MEMBERS:-500} rate=${RATE:-100} size=${SIZE:-64} duration=${DURATION:-5}
log() { echo "[fanout-redis] $*" >&2; }
command -v redis-server >/dev/null || { log "redis-server not found: run scripts/install-servers.sh"; exit 1; }
if [[ -z "${TETHER:-}" ]]; then
    cargo build --release --quiet -p tether-ws-cli
    TETHER="$ROOT/target/release/tether"
fi
OUT="$ROOT/target/bench"
mkdir -p "$OUT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

urls=() hub_pids=()
for i in 1 2; do
    taskset -c 0 "$TETHER" hub --listen 127.0.0.1:0 --threads 1 --quiet --redis "redis://127.0.0.1:$port/" > "$OUT/hub$i.out" &
    hub_pids+=($!)
    pids+=($!)
    url="$(await_url "$OUT/hub$i.out" "${hub_pids[-1]}")" || { log "hub $i did not start"; exit 1; }
    urls+=("${url}rooms/bench")
done

ticks=$(getconf CLK_TCK)
before=("$(cpu_ticks "$redis_pid")" "$(cpu_ticks "${hub_pids[0]}")" "$(cpu_ticks "${hub_pids[1]}")")
started=$(date +%s.%N) stolen=$(steal_ticks)
log "$members members over 2 hubs, 1 publisher at $rate msg/s, $size B, ${duration} s"
report=$(taskset -c 1 "$TETHER" bench fanout "${urls[0]}" --hub "${urls[1]}" -m "$members" -p 1 -s "$size" -r "$rate" \
    -d "$duration" -w 1 --json --quiet)
after=("$(cpu_ticks "$redis_pid")" "$(cpu_ticks "${hub_pids[0]}")" "$(cpu_ticks "${hub_pids[1]}")")
elapsed=$(python3 -c "import time; print(time.time() - $started)")
stolen=$(($(steal_ticks) - stolen))
python3 - "$report" "$ticks" "$elapsed" "$stolen" "${before[@]}" "${after[@]}" > "$OUT/fanout-redis.json" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = float(sys.argv[2]); elapsed = float(sys.argv[3])
b = [float(x) for x in sys.argv[5:8]]; a = [float(x) for x in sys.argv[8:11]]
used = [(y - x) / ticks for x, y in zip(b, a)]
# CPU over the whole run (connects, warm-up, window, the 2 s drain), as a
# share of a core, beside the deliveries per second of the window.
r["run_s"] = round(elapsed, 2)
r["steal_s"] = round(float(sys.argv[4]) / ticks, 2)
for name, u in zip(["redis", "hub1", "hub2"], used):
    r[name + "_cpu_s"] = round(u, 3)
    r[name + "_core_share"] = round(u / elapsed, 3)
print(json.dumps(r))
PY
cat "$OUT/fanout-redis.json"
