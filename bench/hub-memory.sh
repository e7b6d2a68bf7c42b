#!/usr/bin/env bash
# Memory per member of a 10,000-member room on one `tether hub`, against
# memory per idle connection of `tether echo` (the issue's target: within
# 10 %). Readings of the server's resident memory (/proc), each from a
# fresh server process:
#
#   idle      `tether echo`, N idle connections (tether bench idle --size 0),
#             and N that echoed one 20-byte message first (--size 20: the
#             idle row of bench/compare.sh)
#   members   `tether hub`, N idle members of one room (--size 0: a message
#             sent in a room would go to every member)
#   pinged    both again after every connection answered the server's
#             keepalive ping (--answer-ping: about 20 s each), as browsers
#             keep connections alive
#   traffic   `tether hub`, N members of one room while 1 publisher sends
#             RATE msg/s of 20 B to all of them (tether bench fanout),
#             read in the middle of the run
#
#   bench/hub-memory.sh            N=10000, RATE=2 (20,000 deliveries/s)
#
# N, RATE and BIN (the tether binary; default: the release build, which
# the published figures were read from) in the environment change it;
# PINGED=0 skips the pinged readings. Writes target/bench/hub-memory.json.
# Not part of the test command (about 40 s, 90 s with the pinged readings).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
n=${N:-10000} rate=${RATE:-2}
log() { echo "[hub-memory] $*" >&2; }
need_descriptors "$n"
release_tether
OUT="$ROOT/target/bench"
mkdir -p "$OUT"

server_pid=""
stop() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop EXIT

start() { # command... ; sets server_pid and url
    rm -f "$OUT/hub-memory.url"
    "$BIN" "$@" --listen 127.0.0.1:0 --threads 1 --quiet > "$OUT/hub-memory.url" &
    server_pid=$!
    url="$(await_url "$OUT/hub-memory.url" "$server_pid")" || { log "tether $1 did not start"; exit 1; }
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

idle_per_conn() { # URL SIZE [FLAGS] -> KiB per connection
    "$BIN" bench idle "$1" -c "$n" --size "$2" ${3:-} --source 4 --server-pid "$server_pid" --json --quiet |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["rss_kb_per_conn"])'
}

start echo
log "tether echo: $n idle connections"
idle=$(idle_per_conn "$url" 0)
stop
start echo
log "tether echo: $n idle connections that echoed a message"
used=$(idle_per_conn "$url" 20)
stop

start hub
log "tether hub: $n idle members of one room"
members=$(idle_per_conn "${url}rooms/big" 0)
stop

idle_pinged=null members_pinged=null
if [[ ${PINGED:-1} != 0 ]]; then
    start echo
    log "tether echo: $n idle connections, after a keepalive round trip"
    idle_pinged=$(idle_per_conn "$url" 0 --answer-ping)
    stop
    start hub
    log "tether hub: $n idle members, after a keepalive round trip"
    members_pinged=$(idle_per_conn "${url}rooms/big" 0 --answer-ping)
    stop
fi

start hub
log "tether hub: $n members, 1 publisher at $rate msg/s x 20 B"
sleep 1
before=$(rss_kb "$server_pid")
"$BIN" bench fanout "${url}rooms/big" -m "$n" -p 1 -s 20 -r "$rate" -d 6 -w 1 --source 4 --json --quiet \
    > "$OUT/hub-memory.fanout.json" &
generator=$!
# Mid-run: every member joined (the warm-up starts once all have) and
# messages flowing through every queue.
peak=0
while kill -0 "$generator" 2>/dev/null; do
    now=$(rss_kb "$server_pid")
    (( now > peak )) && peak=$now
    sleep 0.5
done
wait "$generator"
stop

python3 - "$n" "$idle" "$members" "$before" "$peak" "$OUT/hub-memory.fanout.json" "$used" \
    "$idle_pinged" "$members_pinged" > "$OUT/hub-memory.json" <<'PY'
import json, sys
n = int(sys.argv[1]); idle = float(sys.argv[2]); members = float(sys.argv[3])
before = int(sys.argv[4]); peak = int(sys.argv[5])
fanout = json.load(open(sys.argv[6])); used = float(sys.argv[7])
idle_pinged = json.loads(sys.argv[8]); members_pinged = json.loads(sys.argv[9])
traffic = (peak - before) / n
out = {
    "members": n,
    "idle_kib_per_conn": round(idle, 2),
    "idle_after_echo_kib_per_conn": round(used, 2),
    "room_idle_kib_per_member": round(members, 2),
    "room_traffic_kib_per_member": round(traffic, 2),
    "room_idle_vs_idle": round(members / idle, 3),
    "room_traffic_vs_idle_after_echo": round(traffic / used, 3),
    "idle_pinged_kib_per_conn": idle_pinged and round(idle_pinged, 2),
    "room_pinged_kib_per_member": members_pinged and round(members_pinged, 2),
    "room_pinged_vs_idle_pinged": idle_pinged and members_pinged and round(members_pinged / idle_pinged, 3),
    "fanout_deliveries_per_s": fanout.get("msg_per_s"),
    "fanout_lost": fanout.get("lost", fanout.get("params", {}).get("lost")),
    "fanout_errors": fanout.get("errors"),
}
print(json.dumps(out))
PY
cat "$OUT/hub-memory.json"
