#!/usr/bin/env bash
# Per-message cost of an echo server, in counts that do not depend on how
# busy the machine is: syscalls (strace -c), instructions (valgrind
# --tool=callgrind) and heap allocations (valgrind --tool=dhat).
#
#   bench/profile.sh [--servers tether,fastwebsockets,...] [--size 20] [--conns 1] [--in-flight 1]
#                    [--messages M1,M2] [--tools strace,callgrind,dhat] [--tether PATH]
#   bench/profile.sh --setup [--seconds S1,S2] [--servers ...] [--tools ...] [--tether PATH]
#   bench/profile.sh --fanout [--seconds S1,S2] [--servers tether-hub,raw-tcp-rooms] [--tools ...] [--tether PATH]
#
# Each server is run twice under each tool, echoing M1 and then M2 messages
# per connection; the difference divided by the difference in messages is
# the cost of one message, with start-up and handshakes cancelled out. With
# one connection and one message in flight (the default) nothing can be
# batched, so every message pays the whole path: read, decode, encode, write.
# With --setup, the load is `tether bench setup -c 1` (connect, handshake,
# close, one at a time) for S1 and then S2 seconds (default 2 and 6), and
# the figures are per setup: the difference divided by the difference in
# setups completed. With --fanout, the load is `tether bench fanout`: 200
# members of one room, one publishing 50 messages of 64 B a second (10,000
# deliveries a second, which a server under callgrind keeps up with), for
# S1 and then S2 seconds (default 3 and 9); the figures are per delivery.
# Needs the release builds of bench/compare.sh (--tether PATH: profile that
# tether binary instead). Writes target/bench/profile/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

servers="tether,fastwebsockets,tokio-websockets,tokio-tungstenite" size=20 conns=1 in_flight=1 m1=500 m2=2500
tools="strace,callgrind,dhat" setup=0 fanout=0 TETHER="$ROOT/target/release/tether"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --servers) servers="$2"; shift ;;
        --size) size="$2"; shift ;;
        --conns) conns="$2"; shift ;;
        --in-flight) in_flight="$2"; shift ;;
        --messages) IFS=, read -r m1 m2 <<< "$2"; shift ;;
        --tools) tools="$2"; shift ;;
        --setup) setup=1 conns=1 m1=2 m2=6 ;;
        --fanout) fanout=1 m1=3 m2=9 servers="tether-hub,raw-tcp-rooms" tools="callgrind" ;;
        --seconds) IFS=, read -r m1 m2 <<< "$2"; shift ;;
        --tether) TETHER="$(realpath "$2")"; shift ;;
        *) echo "usage: bench/profile.sh [--setup | --fanout] [--servers a,b] [--size S] [--conns N] [--in-flight K]" \
            "[--messages M1,M2 | --seconds S1,S2] [--tools a,b] [--tether PATH]" >&2; exit 2 ;;
    esac
    shift
done

PEERS="$ROOT/target/peers/release"
OUT="$ROOT/target/bench/profile"
mkdir -p "$OUT"
[[ -x "$TETHER" && -x "$PEERS/fastwebsockets" ]] || { echo "build first: bench/compare.sh builds both" >&2; exit 1; }
command -v strace >/dev/null && command -v valgrind >/dev/null || { echo "needs strace and valgrind" >&2; exit 1; }

declare -A SERVER=(
    [tether]="$TETHER echo --listen 127.0.0.1:0 --threads 1 --quiet"
    [fastwebsockets]="$PEERS/fastwebsockets --listen 127.0.0.1:0"
    [tokio-tungstenite]="$PEERS/tokio_tungstenite --listen 127.0.0.1:0"
    [tokio-websockets]="$PEERS/tokio_websockets --listen 127.0.0.1:0"
    [tether-mt]="$TETHER echo --listen 127.0.0.1:0 --quiet"
    [tether-hub]="$TETHER hub --listen 127.0.0.1:0 --threads 1 --quiet"
    [raw-tcp]="$PEERS/raw_tcp --listen 127.0.0.1:0"
    [raw-setup]="$PEERS/raw_setup --listen 127.0.0.1:0"
    [raw-tcp-rooms]="$PEERS/raw_tcp_rooms --listen 127.0.0.1:0"
)

# run TOOL SERVER MESSAGES -> the tool's output file
run() {
    local tool="$1" name="$2" m="$3" file="$OUT/$2.$1.$3" pid url
    rm -f "$file" "$OUT/server.out"
    case "$tool" in
        strace) strace -f -c -o "$file" ${SERVER[$name]} > "$OUT/server.out" 2>/dev/null & ;;
        callgrind) valgrind --tool=callgrind --callgrind-out-file="$file" ${SERVER[$name]} > "$OUT/server.out" 2>/dev/null & ;;
        dhat) valgrind --tool=dhat --dhat-out-file="$file.json" --log-file="$file" ${SERVER[$name]} > "$OUT/server.out" 2>/dev/null & ;;
    esac
    pid=$!
    url="$(await_url "$OUT/server.out" "$pid")" || { echo "$name did not start under $tool" >&2; kill "$pid" 2>/dev/null || true; return 1; }
    if [[ $setup == 1 ]]; then
        "$TETHER" bench setup "$url" -c 1 -w 0 -d "$m" --quiet --json > "$OUT/$name.$tool.$m.bench.json"
    elif [[ $fanout == 1 ]]; then
        "$TETHER" bench fanout "${url%/}/rooms/bench" -m 200 -p 1 -s 64 -r 50 -w 1 -d "$m" --quiet --json \
            > "$OUT/$name.$tool.$m.bench.json"
    else
        "$TETHER" bench echo "$url" -c "$conns" -k "$in_flight" -s "$size" -m "$m" -d 300 --check --quiet --json \
            > "$OUT/$name.$tool.$m.bench.json"
    fi
    # Stop the server itself (under strace, the traced child), so the tool writes its summary.
    local target="$pid"
    [[ "$tool" == strace ]] && target="$(pgrep -P "$pid" | head -n1)"
    kill -INT "$target" 2>/dev/null || true
    sleep 0.5
    kill "$target" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$file"
}

# valgrind's dhat counts the C allocator's calls; a tether built with its
# default feature `jemalloc` allocates past it and would count none.
jemalloc=0
if [[ ",$tools," == *,dhat,* ]] && grep -q _rjem_malloc "$TETHER"; then
    jemalloc=1
    echo "[profile] $TETHER allocates with jemalloc, which dhat does not see: no allocation counts for" \
        "tether (build it with: cargo build --release -p tether-ws-cli --no-default-features)" >&2
fi

[[ "$setup$fanout" != 11 ]] || { echo "--setup and --fanout measure different loads: pick one" >&2; exit 2; }

IFS=, read -ra names <<< "$servers"
for name in "${names[@]}"; do
    [[ -n "${SERVER[$name]:-}" ]] || { echo "unknown server $name" >&2; exit 2; }
    IFS=, read -ra tool_list <<< "$tools"
    for tool in "${tool_list[@]}"; do
        for m in $m1 $m2; do
            case "$setup$fanout" in
                10) what="setups for $m s" ;;
                01) what="fan-out for $m s" ;;
                *) what="$m messages per connection" ;;
            esac
            echo "[profile] $name under $tool, $what" >&2
            run "$tool" "$name" "$m" > /dev/null
        done
    done
done

python3 - "$OUT" "$servers" "$m1" "$m2" "$conns" "$tools" "$setup" "$fanout" "$jemalloc" <<'EOF'
import json, re, sys
out, servers, m1, m2, conns = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4], int(sys.argv[5])
tools, setup, fanout = sys.argv[6].split(","), sys.argv[7] == "1", sys.argv[8] == "1"
jemalloc = sys.argv[9] == "1"
unit = "setup" if setup else "delivery" if fanout else "msg"

def ops(s, tool, m):
    return json.load(open(f"{out}/{s}.{tool}.{m}.bench.json"))["ops"]

def strace(path):
    calls = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            name = f[-1]
            calls[name] = int(f[3])
    return calls

def callgrind(path):
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])

def dhat(path):
    text = open(path).read()
    m = re.search(r"Total:\s+([\d,]+) bytes in ([\d,]+) blocks", text)
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))

rows = []
for s in servers:
    # Messages (or setups) between the two runs of each tool.
    # Setups and deliveries are counted by the load; echoed messages are set.
    counted = setup or fanout
    delta = {t: (ops(s, t, m2) - ops(s, t, m1)) if counted else (int(m2) - int(m1)) * conns for t in tools}
    row = {"server": s, "unit": unit, "syscalls_per_msg": None, "syscalls": {}, "instructions_per_msg": None,
           "allocs_per_msg": None, "alloc_bytes_per_msg": None}
    if "strace" in tools:
        a, b = strace(f"{out}/{s}.strace.{m1}"), strace(f"{out}/{s}.strace.{m2}")
        sys_per = {k: (b.get(k, 0) - a.get(k, 0)) / delta["strace"] for k in set(a) | set(b)}
        sys_per = {k: v for k, v in sys_per.items() if v > 0.01}
        row["syscalls_per_msg"] = round(sum(sys_per.values()), 2)
        row["syscalls"] = {k: round(v, 2) for k, v in sorted(sys_per.items(), key=lambda kv: -kv[1])}
    if "callgrind" in tools:
        ir = (callgrind(f"{out}/{s}.callgrind.{m2}") - callgrind(f"{out}/{s}.callgrind.{m1}")) / delta["callgrind"]
        row["instructions_per_msg"] = round(ir)
    if "dhat" in tools and not (jemalloc and s.startswith("tether")):
        (bytes1, blocks1), (bytes2, blocks2) = dhat(f"{out}/{s}.dhat.{m1}"), dhat(f"{out}/{s}.dhat.{m2}")
        row["allocs_per_msg"] = round((blocks2 - blocks1) / delta["dhat"], 2)
        row["alloc_bytes_per_msg"] = round((bytes2 - bytes1) / delta["dhat"], 1)
    rows.append(row)
json.dump(rows, open(f"{out}/profile.json", "w"), indent=1)
print(f"| server | instructions/{unit} | syscalls/{unit} | which | allocations/{unit} | bytes allocated/{unit} |")
print("|---|---|---|---|---|---|")
for r in rows:
    which = ", ".join(f"{k} {v}" for k, v in r["syscalls"].items())
    ir = "–" if r["instructions_per_msg"] is None else f"{r['instructions_per_msg']:,}"
    print(f"| {r['server']} | {ir} | {r['syscalls_per_msg']} | {which} | {r['allocs_per_msg']} | {r['alloc_bytes_per_msg']} |")
EOF
