#!/usr/bin/env bash
# Side-by-side comparison of tether with the fastest peers, one command, one table.
#
#   bench/compare.sh            full run: 5 rounds, 5 s per workload after 1 s of warm-up
#   bench/compare.sh --quick    3 shorter rounds (1.5 s + 0.5 s), idle memory once: for direction only
#   options: --rounds N, --servers a,b,..., --workloads a,b,..., --duration S, --warmup S,
#            --out DIR (default target/bench), --tether PATH (use this tether
#            binary and build nothing: only servers that need no build can run)
#
# Every server runs pinned to core 0 (`taskset -c 0`), the generator
# (`tether bench`) to core 1. The generator reads the server's CPU time from
# /proc/PID/stat over exactly the measured window, so the headline figure is
# messages per server CPU-second, with raw msg/s beside it.
#
# What makes the table trustworthy:
# - every echo row runs with `--check`: every echoed byte is compared with
#   what was sent, and a run with any error scores zero (a server that
#   echoes the right lengths with the wrong bytes gets nothing);
# - servers are interleaved per workload: within a round, every server runs
#   workload A back to back (each in a fresh process, in an order rotated
#   each round), then workload B, so the runs a within-round ratio compares
#   are seconds apart, not minutes;
# - the ratio column is the median of the within-round ratios with their
#   spread (lowest-highest); a spread that includes 1.00 prints as a tie.
# Writes:
#   target/bench/runs.jsonl    every run, as the generator reported it
#   target/bench/compare.json  one row per server and workload (medians)
#   target/bench/compare.md    the Markdown tables
# Not part of the test command: it is slow and its numbers are noisy
# (scripts/bench-trust-test.sh checks the scoring).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

all_args="$*"
rounds="" duration=5 warmup=1 quick=0 only_servers="" only_workloads="" tether_bin="" out_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 duration=1.5 warmup=0.5 ;;
        --rounds) rounds="$2"; shift ;;
        --servers) only_servers="$2"; shift ;;
        --workloads) only_workloads="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --warmup) warmup="$2"; shift ;;
        --out) out_dir="$2"; shift ;;
        --tether) tether_bin="$(realpath "$2")"; shift ;;
        *) echo "usage: bench/compare.sh [--quick] [--rounds N] [--servers a,b] [--workloads a,b]" \
            "[--duration S] [--warmup S] [--out DIR] [--tether PATH]" >&2; exit 2 ;;
    esac
    shift
done
# Full runs need at least 5 rounds to judge a target; quick runs give a direction.
[[ -n "$rounds" ]] || { [[ $quick == 1 ]] && rounds=3 || rounds=5; }

OUT="${out_dir:-$ROOT/target/bench}"
mkdir -p "$OUT"
log() { echo "[compare] $*" >&2; }
[[ $(nproc) -ge 2 ]] || { log "needs two cores (server on 0, generator on 1)"; exit 1; }

# ---- build and install ---------------------------------------------------
if [[ -z "$tether_bin" ]]; then
    log "building tether (release)"
    cargo build --release --quiet -p tether-ws-cli
    log "building the Rust peers (release, bench/peers)"
    (cd bench/peers && CARGO_TARGET_DIR="$ROOT/target/peers" cargo build --release --quiet)
fi
# Every run without --servers includes the Node and Python servers.
if [[ -z "$tether_bin" || -z "$only_servers" || "$only_servers" == *node* || "$only_servers" == *python* || "$only_servers" == *uws* ]]; then
    log "installing the Node and Python peers"
    eval "$(bench/peers/install.sh)"
fi

TETHER="${tether_bin:-$ROOT/target/release/tether}"
PEERS="$ROOT/target/peers/release"
# The TLS rows: a throwaway CA and one server certificate (ECDSA P-256),
# made fresh for each run under the output directory, never committed.
PKI="$OUT/tls"
TLS_FILES="--tls-cert $PKI/cert.pem --tls-key $PKI/key.pem"
# 10,000 idle connections need as many descriptors in the server and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge 10100 ]] || log "warning: ulimit -n is $(ulimit -n); the idle workload needs 10,100"

# ---- servers and workloads -------------------------------------------------
declare -A SERVER=(
    [tether]="$TETHER echo --listen 127.0.0.1:0 --threads 1 --quiet"
    [tether-mt]="$TETHER echo --listen 127.0.0.1:0 --quiet"
    # The peers' loop: every echoed message flushed on its own (tether's own
    # loop feeds and lets the stream write a burst at once).
    [tether-flush]="$TETHER echo --listen 127.0.0.1:0 --threads 1 --quiet --flush-each"
    [fastwebsockets]="$PEERS/fastwebsockets --listen 127.0.0.1:0"
    [tokio-tungstenite]="$PEERS/tokio_tungstenite --listen 127.0.0.1:0"
    [tokio-websockets]="$PEERS/tokio_websockets --listen 127.0.0.1:0"
    [node-ws]="node $ROOT/bench/peers/node_ws_echo.js --listen 127.0.0.1:0"
    [python-websockets]="${TETHER_BENCH_PYTHON:-python3} $ROOT/bench/peers/py_websockets_echo.py --listen 127.0.0.1:0"
    [raw-tcp]="$PEERS/raw_tcp --listen 127.0.0.1:0"
    # The least a WebSocket setup takes (key, fixed 101, close echoed, no checks or timers): the setup row's limit.
    [raw-setup]="$PEERS/raw_setup --listen 127.0.0.1:0"
    # The same with its close frame and FIN in one segment (MSG_MORE, then shutdown).
    [raw-setup-fin]="$PEERS/raw_setup --listen 127.0.0.1:0 --fin-with-close"
    # ... and its listener set up as tether's Server sets up its own (deferred accept, TCP_NODELAY copied).
    [raw-setup-defer]="$PEERS/raw_setup --listen 127.0.0.1:0 --fin-with-close --defer-accept"
    # Right lengths, one wrong byte per message: must score 0 (scripts/bench-trust-test.sh).
    [wrong-echo]="python3 $ROOT/bench/peers/wrong_echo.py --listen 127.0.0.1:0"
    # Room servers, for the fan-out rows: a WebSocket to /rooms/NAME joins NAME.
    [tether-hub]="$TETHER hub --listen 127.0.0.1:0 --threads 1 --quiet"
    # Another build of the hub (or of `tether echo`) beside it, interleaved in
    # the same rounds (TETHER_BEFORE=PATH, --servers tether-hub-before,... or
    # tether-before,...): before and after a change, the same generator for both.
    [tether-hub-before]="${TETHER_BEFORE:-$TETHER} hub --listen 127.0.0.1:0 --threads 1 --quiet"
    [tether-before]="${TETHER_BEFORE:-$TETHER} echo --listen 127.0.0.1:0 --threads 1 --quiet"
    [node-ws-rooms]="node $ROOT/bench/peers/node_ws_echo.js --listen 127.0.0.1:0 --rooms"
    [python-websockets-rooms]="${TETHER_BENCH_PYTHON:-python3} $ROOT/bench/peers/py_websockets_echo.py --listen 127.0.0.1:0 --rooms"
    # uWebSockets.js topics (`uws-pack`, a third-party npm repackaging of its binaries).
    [uws-rooms]="node $ROOT/bench/peers/uws_rooms.mjs --listen 127.0.0.1:0"
    # No WebSocket work past the handshake: each message written to every member (the fan-out limit).
    [raw-tcp-rooms]="$PEERS/raw_tcp_rooms --listen 127.0.0.1:0"
    # axum 0.8 (bench/peers, current-thread, HTTP/1.1 and h2c): its own WebSocket,
    # and tether's extractor with compression off (on for the deflate rows only).
    [axum-builtin]="$PEERS/axum_builtin --listen 127.0.0.1:0"
    [axum-tether]="$PEERS/axum_tether --listen 127.0.0.1:0"
    [axum-tether-deflate]="$PEERS/axum_tether --listen 127.0.0.1:0 --deflate"
    # wss:// (the tls-* rows): one certificate for all; the generator offers one
    # cipher suite (TLS13_AES_128_GCM_SHA256) and X25519, so all negotiate the same.
    [tether-tls]="$TETHER echo --listen 127.0.0.1:0 --threads 1 --quiet $TLS_FILES"
    [fastwebsockets-tls]="$PEERS/fastwebsockets_tls --listen 127.0.0.1:0 $TLS_FILES"
    [tokio-tungstenite-tls]="$PEERS/tokio_tungstenite_tls --listen 127.0.0.1:0 $TLS_FILES"
    [raw-tls]="$PEERS/raw_tls --listen 127.0.0.1:0 $TLS_FILES"
)
export NODE_PATH="${TETHER_BENCH_NODE_PATH:-}" TETHER_BENCH_UWS_PATH="${TETHER_BENCH_UWS_PATH:-}"
servers=(tether tether-mt tether-flush fastwebsockets tokio-tungstenite tokio-websockets node-ws python-websockets raw-tcp raw-setup raw-setup-fin raw-setup-defer
    tether-hub node-ws-rooms python-websockets-rooms uws-rooms raw-tcp-rooms axum-builtin axum-tether axum-tether-deflate
    tether-tls fastwebsockets-tls tokio-tungstenite-tls raw-tls)

# name -> generator arguments (URL and timing are added per run)
workloads=(echo-100x20B echo-10x1KiB echo-10x16KiB echo-200x16KiB echo-500x16KiB
    pipelined-512x16x5B large-10x1MiB large-2x16MiB deflate-100x1KiB deflate-10x16KiB setup idle-10k idle-10k-deflate
    fanout-1x1000x64B fanout-10x100x1KiB fanout-1x10000x20B
    h2-echo-100x20B h1-echo-100x20B h2-echo-10x16KiB h1-echo-10x16KiB h2-setup-16 h1-setup-16
    tls-echo-100x20B tls-echo-200x16KiB tls-setup)
declare -A WORKLOAD=(
    [echo-100x20B]="echo -c 100 -s 20"
    [echo-10x1KiB]="echo -c 10 -s 1KiB"
    [echo-10x16KiB]="echo -c 10 -s 16KiB"
    [echo-200x16KiB]="echo -c 200 -s 16KiB"
    [echo-500x16KiB]="echo -c 500 -s 16KiB"
    [pipelined-512x16x5B]="echo -c 512 -k 16 -s 5"
    [large-10x1MiB]="echo -c 10 -s 1MiB"
    [large-2x16MiB]="echo -c 2 -s 16MiB"
    # permessage-deflate on JSON text (the generator compresses each message on its own)
    [deflate-100x1KiB]="echo -c 100 -s 1KiB --deflate"
    [deflate-10x16KiB]="echo -c 10 -s 16KiB --deflate"
    [setup]="setup -c 16"
    [idle-10k]="idle -c 10000 --source 4"
    # The same after one compressed message each way: 2 KiB, above every server's
    # threshold (tether and Node `ws` compress from 1 KiB), so the memory holds
    # the server's compressor as well as its decompressor (until 2026-12-04 the
    # message was 20 B, which tether and Node `ws` echo uncompressed).
    [idle-10k-deflate]="idle -c 10000 --source 4 --deflate -s 2KiB"
    # Fan-out through a room server (URL + rooms/bench): members x publishers
    # x size at a fixed publish rate, the same for every server, set so one
    # generator core keeps up; lost and duplicated deliveries are counted.
    [fanout-1x1000x64B]="fanout -m 1000 -p 1 -s 64 -r 200"
    [fanout-10x100x1KiB]="fanout -m 1000 -p 10 --rooms 10 -s 1KiB -r 1000"
    [fanout-1x10000x20B]="fanout -m 10000 -p 1 -s 20 -r 20 --source 4"
    # HTTP/2 (h2c, RFC 8441) against HTTP/1.1, both on tether's client (every
    # byte checked): h2 rows put all WebSockets on one connection; the setup
    # rows open and close WebSockets, 16 at a time (h2: on one connection).
    [h2-echo-100x20B]="echo -c 100 -s 20 --http2 --streams-per-conn 100"
    [h1-echo-100x20B]="echo -c 100 -s 20 --tether-client"
    [h2-echo-10x16KiB]="echo -c 10 -s 16KiB --http2 --streams-per-conn 10"
    [h1-echo-10x16KiB]="echo -c 10 -s 16KiB --tether-client"
    [h2-setup-16]="setup -c 16 --http2 --streams-per-conn 16"
    [h1-setup-16]="setup -c 16 --tether-client"
    # wss:// on the TLS servers (the generator's rustls client trusts the run's CA).
    [tls-echo-100x20B]="echo -c 100 -s 20"
    [tls-echo-200x16KiB]="echo -c 200 -s 16KiB"
    [tls-setup]="setup -c 16"
)

if [[ -n "$only_servers" ]]; then IFS=, read -ra servers <<< "$only_servers"; fi
if [[ -n "$only_workloads" ]]; then IFS=, read -ra workloads <<< "$only_workloads"; fi
for s in "${servers[@]}"; do [[ -n "${SERVER[$s]:-}" ]] || { log "unknown server $s"; exit 2; }; done
for w in "${workloads[@]}"; do [[ -n "${WORKLOAD[$w]:-}" ]] || { log "unknown workload $w"; exit 2; }; done

# The raw TCP echo has no WebSocket: it runs the echo workloads only, as the physical limit.
# The compressed echo runs on the servers that implement permessage-deflate.
applies() {
    # TLS servers run the tls-* rows only (the raw TLS echo: not setup), and only they do.
    case "$1:$2" in
        raw-tls:tls-setup) return 1 ;;
        *-tls:tls-*) return 0 ;;
        *-tls:* | *:tls-*) return 1 ;;
    esac
    local r=0; applies_axum_h2 "$1" "$2" || r=$?
    [[ $r -lt 2 ]] && return $r
    case "$1" in
        *-rooms | tether-hub | tether-hub-before) [[ "$2" == fanout-* ]]; return ;;
        raw-setup | raw-setup-fin | raw-setup-defer) [[ "$2" == setup ]]; return ;;
    esac
    case "$2" in
        fanout-*) false ;;
        deflate-* | *-deflate) [[ "$1" == tether || "$1" == tether-before || "$1" == tether-mt || "$1" == node-ws || "$1" == python-websockets ]] ;;
        pipelined-*) true ;;
        echo-* | large-*) [[ "$1" != tether-flush ]] ;;
        *) [[ "$1" != raw-tcp && "$1" != tether-flush && "$1" != wrong-echo ]] ;;
    esac
}

# The axum and HTTP/2 rows (issue 15): 0 applies, 1 does not, 2 not one of them.
applies_axum_h2() {
    case "$1:$2" in
        axum-tether-deflate:deflate-*) return 0 ;;
        axum-tether-deflate:*) return 1 ;;
        tether:h[12]-* | tether-before:h[12]-* | tether-mt:h[12]-* | axum-tether:h[12]-* | axum-builtin:h[12]-*) return 0 ;;
        *:h[12]-*) return 1 ;;
    esac
    return 2
}

# ---- running one server -----------------------------------------------------
server_pid="" server_url=""
# name -> runs it missed: a server that did not start is named under the
# table and fails the run, so a table never lacks a peer without saying so.
declare -A NOT_STARTED=()
start_server() {
    local name="$1" out="$OUT/server.out"
    : > "$out"
    # shellcheck disable=SC2086 # the command line is split on purpose
    taskset -c 0 ${SERVER[$name]} > "$out" 2> "$OUT/server-$name.err" &
    server_pid=$!
    server_url="$(await_url "$out" "$server_pid")" && return 0
    log "$name did not start (see $OUT/server-$name.err)"
    NOT_STARTED[$name]=$(( ${NOT_STARTED[$name]:-0} + 1 ))
    return 1
}
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server' EXIT

run_workload() { # server workload round
    local name="$1" work="$2" round="$3" timing=(-d "$duration" -w "$warmup") line
    [[ "$work" == idle-* ]] && timing=()
    # Every echoed byte is compared with what was sent (the idle workload
    # checks its one echo, setup has no payload, fan-out checks sequences).
    case "$work" in echo-* | large-* | pipelined-* | deflate-* | tls-echo-*) timing+=(--check) ;; esac
    [[ "$work" == tls-* ]] && timing+=(--ca "$PKI/ca.pem")
    local url="$server_url"
    [[ "$work" == fanout-* ]] && url="${server_url%/}/rooms/bench"
    # shellcheck disable=SC2086
    line="$(taskset -c 1 "$TETHER" bench ${WORKLOAD[$work]} "$url" "${timing[@]}" \
        --server-pid "$server_pid" --json --quiet 2> "$OUT/generator.err" || true)"
    if [[ -z "$line" ]]; then
        log "  $name $work: no report ($(tail -n1 "$OUT/generator.err"))"
        line='{"errors": 1, "error_samples": ["no report"]}'
    fi
    python3 -c 'import json, sys
row = json.loads(sys.argv[1]); row.update(server=sys.argv[2], workload=sys.argv[3], round=int(sys.argv[4]))
print(json.dumps(row))' "$line" "$name" "$work" "$round" >> "$OUT/runs.jsonl"
    python3 -c 'import json, sys; r = json.loads(sys.argv[1])
ops = r.get("msg_per_s") or 0; cpu = r.get("msg_per_server_cpu_s") or 0
extra = " %.2f KiB/conn" % r["rss_kb_per_conn"] if r.get("rss_kb_per_conn") is not None else ""
print("  %-18s %-20s %10.0f /s %10.0f /server-cpu-s%s errors %s" % (sys.argv[2], sys.argv[3], ops, cpu, extra, r.get("errors")))' \
        "$line" "$name" "$work" >&2
}

# ---- the rounds -----------------------------------------------------------------
for s in "${servers[@]}"; do
    if [[ "$s" == *-tls ]]; then
        "$PEERS/bench_pki" "$PKI"
        log "TLS rows: a fresh CA and server certificate in $PKI"
        break
    fi
done
: > "$OUT/runs.jsonl"
log "$rounds rounds, ${duration} s per workload after ${warmup} s warm-up; servers: ${servers[*]}"
started=$(date +%s)
for round in $(seq "$rounds"); do
    log "round $round/$rounds"
    for w in "${workloads[@]}"; do
        # Idle memory: in quick mode, once.
        [[ "$w" == idle-* && $quick == 1 && $round != 1 ]] && continue
        todo=()
        for name in "${servers[@]}"; do applies "$name" "$w" && todo+=("$name"); done
        [[ ${#todo[@]} -gt 0 ]] || continue
        # Rotate the order each round so no server always runs first or last.
        shift_by=$(( (round - 1) % ${#todo[@]} ))
        order=("${todo[@]:$shift_by}" "${todo[@]:0:$shift_by}")
        for name in "${order[@]}"; do
            # A fresh process per run: no run inherits another's buffers or queues.
            if start_server "$name"; then
                run_workload "$name" "$w" "$round"
                stop_server
            fi
        done
    done
done
log "measured in $(( $(date +%s) - started )) s"

python3 "$ROOT/bench/summarize.py" "$OUT/runs.jsonl" "$OUT" --command "bench/compare.sh${all_args:+ $all_args}" \
    --rounds "$rounds" --duration "$duration" --warmup "$warmup"
log "wrote $OUT/compare.json and $OUT/compare.md"
if [[ ${#NOT_STARTED[@]} -gt 0 ]]; then
    {
        echo
        echo "**Servers that did not start** (their runs are missing from the tables above):"
        echo
        for name in "${!NOT_STARTED[@]}"; do
            echo "- \`$name\` (runs missed: ${NOT_STARTED[$name]}; see server-$name.err)"
        done
    } >> "$OUT/compare.md"
    log "did not start: ${!NOT_STARTED[*]} (listed in $OUT/compare.md)"
    exit 1
fi
