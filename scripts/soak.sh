#!/usr/bin/env bash
# Soak tests of `tether echo` (the `interop` profile: opt-level 1, no LTO), reading the server's RSS and
# open descriptors from /proc.
#
#   scripts/soak.sh churn [SECONDS]   connect/exchange/close in a loop (default 60 s,
#                                     16 at a time); fails unless RSS and fds stay flat
#   scripts/soak.sh idle [N]          hold N idle upgraded connections (default 50000,
#                                     fewer if the descriptor limit is lower) with
#                                     `tether bench idle`; reports the server's RSS each
#
# Results: target/soak/{churn,idle}.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=${1:-churn}
out=target/soak
mkdir -p "$out"

# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
interop_build
tether=target/interop/tether
soak=target/interop/examples/soak

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
    # Each connection costs the server a descriptor and the generator
    # another: both processes are bound by the hard limit on descriptors.
    want=${2:-50000}
    limit=$(ulimit -n)
    n=$want
    if ((n > limit - 200)); then
      n=$((limit - 200))
      echo "soak: the descriptor limit here is $limit per process (hard limit $(ulimit -Hn)):" \
           "holding $n connections instead of $want" >&2
    fi
    sources=$(( (n + 19999) / 20000 ))
    "$tether" bench idle "$url" -c "$n" --source "$sources" --server-pid "$server" --json --quiet >"$out/idle.out"
    python3 - "$out/idle.out" "$want" <<'PY' | tee "$out/idle.json"
import json, sys
r = json.loads(open(sys.argv[1]).read())
print(json.dumps({"connections_wanted": int(sys.argv[2]), "connections": r["held"], "errors": r["errors"],
                  "rss_kb_before": r["rss_kb_before"], "rss_kb_open": r["rss_kb_after"],
                  "rss_bytes_per_connection": round(r["rss_kb_per_conn"] * 1024)}))
PY
    held=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["connections"], r["errors"], r["rss_bytes_per_connection"])' "$out/idle.json")
    read -r got errors per <<<"$held"
    [[ $errors -eq 0 && $got -eq $n ]] || { echo "soak: $got of $n connections held, $errors errors" >&2; exit 1; }
    echo "soak: $n idle connections, $per bytes of server RSS each"
    ;;
  *) echo "usage: scripts/soak.sh churn [SECONDS] | idle [N]" >&2; exit 2 ;;
esac
