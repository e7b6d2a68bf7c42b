#!/usr/bin/env bash
# Soak tests of `tether echo` (release build), reading the server's RSS and
# open descriptors from /proc.
#
#   scripts/soak.sh churn [SECONDS]   connect/exchange/close in a loop (default 60 s,
#                                     16 at a time); fails unless RSS and fds stay flat
#   scripts/soak.sh idle [N]          hold N idle upgraded connections (default 50000)
#                                     and report the server's RSS per connection
#
# Results: target/soak/{churn,idle}.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=${1:-churn}
out=target/soak
mkdir -p "$out"

cargo build --release -q -p tether-cli --bin tether
cargo build --release -q -p tether --example soak
tether=target/release/tether
soak=target/release/examples/soak

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$tether" echo --listen 127.0.0.1:0 >"$out/echo.out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$out/echo.out" ]] && break; sleep 0.05; done
url=$(head -1 "$out/echo.out")

case "$mode" in
  churn)
    seconds=${2:-60}
    # Warm up first so allocator pools exist before the baseline is read.
    "$soak" churn "$url" 3 16 >/dev/null
    sleep 1
    rss0=$(rss_kb $server); fds0=$(fds $server)
    result=$("$soak" churn "$url" "$seconds" 16)
    sleep 1
    rss1=$(rss_kb $server); fds1=$(fds $server)
    cycles=$(awk '{print $2}' <<<"$result"); errors=$(awk '{print $4}' <<<"$result")
    printf '{"seconds": %s, "cycles": %s, "errors": %s, "rss_kb_before": %s, "rss_kb_after": %s, "fds_before": %s, "fds_after": %s}\n' \
      "$seconds" "$cycles" "$errors" "$rss0" "$rss1" "$fds0" "$fds1" | tee "$out/churn.json"
    [[ $errors -eq 0 ]] || { echo "soak: $errors failed cycles" >&2; exit 1; }
    [[ $fds1 -le $((fds0 + 2)) ]] || { echo "soak: descriptors grew from $fds0 to $fds1" >&2; exit 1; }
    # Flat: at most 25 % or 4 MiB above the warmed-up baseline.
    limit=$((rss0 + rss0 / 4 > rss0 + 4096 ? rss0 + rss0 / 4 : rss0 + 4096))
    [[ $rss1 -le $limit ]] || { echo "soak: RSS grew from $rss0 kB to $rss1 kB" >&2; exit 1; }
    echo "soak: $cycles cycles in ${seconds}s, RSS ${rss0} -> ${rss1} kB, fds ${fds0} -> ${fds1}"
    ;;
  idle)
    n=${2:-50000}
    sources=$(( (n + 19999) / 20000 ))
    rss0=$(rss_kb $server)
    exec 3> >("$soak" idle "$url" "$n" "$sources" >"$out/idle.out")
    for _ in $(seq 1200); do grep -q '^open' "$out/idle.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^open' "$out/idle.out" || { echo "soak: the idle connections did not all open" >&2; exit 1; }
    sleep 2
    rss1=$(rss_kb $server); fds1=$(fds $server)
    exec 3>&-
    per=$(( (rss1 - rss0) * 1000 / n ))
    printf '{"connections": %s, "rss_kb_before": %s, "rss_kb_open": %s, "server_fds": %s, "rss_bytes_per_connection": %s}\n' \
      "$n" "$rss0" "$rss1" "$fds1" "$per" | tee "$out/idle.json"
    echo "soak: $n idle connections, $per bytes of server RSS each"
    ;;
  *) echo "usage: scripts/soak.sh churn [SECONDS] | idle [N]" >&2; exit 2 ;;
esac
