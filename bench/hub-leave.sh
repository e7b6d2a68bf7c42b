#!/usr/bin/env bash
# A large room emptied at once: N members of one room on `tether hub`
# (--threads 1, core 0), then every connection closed together (the
# generator, `tether bench idle` on core 1, ends), as when a network drops
# or a load balancer restarts. Reports the hub's CPU time from the last join
# until /metrics shows no member.
#
#   bench/hub-leave.sh                N=19000 (the descriptor limit here)
#
# BIN (the tether binary; default: the release build) in the environment
# changes it. Not part of the test command (about 15 s).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
n=${N:-19000}
log() { echo "[hub-leave] $*" >&2; }
need_descriptors "$n"
release_tether
OUT="$ROOT/target/bench"
mkdir -p "$OUT"

taskset -c 0 "$BIN" hub --listen 127.0.0.1:0 --threads 1 --quiet > "$OUT/hub-leave.url" 2>/dev/null &
hub=$!
generator=""
trap 'kill $hub $generator 2>/dev/null || true; wait 2>/dev/null || true' EXIT
url="$(await_url "$OUT/hub-leave.url" "$hub")" || { log "tether hub did not start"; exit 1; }
url="${url%/}"
metrics="${url/ws:/http:}/metrics"
members() { curl -s --max-time 2 "$metrics" | awk '/^tether_hub_members / {print $2}'; }

taskset -c 1 "$BIN" bench idle "$url/rooms/big" -c "$n" --size 0 --source 4 --hold 4 --quiet > /dev/null &
generator=$!
until [[ "$(members)" == "$n" ]]; do
    kill -0 "$generator" 2>/dev/null || { log "the generator ended before $n members joined"; exit 1; }
    sleep 0.2
done
sleep 0.5
before=$(cpu_ticks "$hub")
wait "$generator" || log "the generator reported errors (closing $n connections at once)"
generator=""
until [[ "$(members)" == "0" ]]; do
    kill -0 "$hub" 2>/dev/null || { log "tether hub ended"; exit 1; }
    sleep 0.05
done
python3 - "$n" "$before" "$(cpu_ticks "$hub")" "$(getconf CLK_TCK)" <<'PY'
import json, sys
n, before, after, ticks = int(sys.argv[1]), *map(float, sys.argv[2:])
print(json.dumps({"members": n, "hub_cpu_s": round((after - before) / ticks, 2)}))
PY
