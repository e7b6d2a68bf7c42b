#!/usr/bin/env bash
# Where a TLS server's time goes per wss:// setup (TLS handshake, WebSocket
# handshake, close), under callgrind: instructions per setup in ring (the
# crypto), rustls (the TLS protocol and certificates), the WebSocket library
# with its HTTP parsing, tokio, the allocator, and the rest.
#
#   bench/tls-setup-profile.sh [--servers tether-tls,fastwebsockets-tls,tokio-tungstenite-tls] [--seconds 6,12]
#
# Each server runs twice under callgrind while `tether bench setup -c 1`
# connects for the shorter and then the longer time; the difference in
# instructions over the difference in setups is the cost of one setup, with
# start-up cancelled out; the split by library comes from the longer run.
# Counts user-space instructions only (the kernel's share is not in them).
# Valgrind hides SHA-NI from the program, so ring's SHA-256 runs its
# portable code here. Needs the release builds of bench/compare.sh and
# writes target/bench/tls-profile/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

servers="tether-tls,fastwebsockets-tls,tokio-tungstenite-tls" seconds="6,12"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --servers) servers="$2"; shift ;;
        --seconds) seconds="$2"; shift ;;
        *) echo "usage: bench/tls-setup-profile.sh [--servers a,b] [--seconds S1,S2]" >&2; exit 2 ;;
    esac
    shift
done
IFS=, read -r s1 s2 <<< "$seconds"

TETHER="$ROOT/target/release/tether"
PEERS="$ROOT/target/peers/release"
OUT="$ROOT/target/bench/tls-profile"
PKI="$OUT/pki"
mkdir -p "$OUT"
[[ -x "$TETHER" && -x "$PEERS/bench_pki" ]] || { echo "build first: bench/compare.sh builds both" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
"$PEERS/bench_pki" "$PKI"
TLS_FILES="--tls-cert $PKI/cert.pem --tls-key $PKI/key.pem"
declare -A SERVER=(
    [tether-tls]="$TETHER echo --listen 127.0.0.1:0 --threads 1 --quiet $TLS_FILES"
    [fastwebsockets-tls]="$PEERS/fastwebsockets_tls --listen 127.0.0.1:0 $TLS_FILES"
    [tokio-tungstenite-tls]="$PEERS/tokio_tungstenite_tls --listen 127.0.0.1:0 $TLS_FILES"
)

# run SERVER SECONDS: the callgrind file and the generator's report
run() {
    local name="$1" secs="$2" file="$OUT/$1.$2.callgrind" pid url=""
    rm -f "$file" "$OUT/server.out"
    # shellcheck disable=SC2086 # the command line is split on purpose
    valgrind --tool=callgrind --callgrind-out-file="$file" ${SERVER[$name]} > "$OUT/server.out" 2>/dev/null &
    pid=$!
    url="$(await_url "$OUT/server.out" "$pid")" || { echo "$name did not start under callgrind" >&2; kill "$pid" 2>/dev/null || true; return 1; }
    "$TETHER" bench setup "$url" -c 1 -d "$secs" -w 0 --ca "$PKI/ca.pem" --quiet --json > "$OUT/$name.$secs.json"
    kill -INT "$pid" 2>/dev/null || true
    sleep 0.5
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

IFS=, read -ra names <<< "$servers"
for name in "${names[@]}"; do
    [[ -n "${SERVER[$name]:-}" ]] || { echo "unknown server $name" >&2; exit 2; }
    for secs in "$s1" "$s2"; do
        echo "[tls-profile] $name under callgrind, $secs s of setups" >&2
        run "$name" "$secs"
        callgrind_annotate --inclusive=no --auto=no --threshold=100 "$OUT/$name.$secs.callgrind" > "$OUT/$name.$secs.txt"
    done
done

python3 - "$OUT" "$servers" "$s1" "$s2" <<'PY'
import json, re, sys
out, servers, s1, s2 = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
# Each instruction goes to the source file it comes from (so code inlined
# across crates counts for the crate that wrote it); first match wins.
PARTS = [
    ("ring (crypto)", r"/ring-\d"),
    ("rustls (TLS, certificates)", r"/(tokio-)?rustls(-webpki|-pki-types)?-\d"),
    ("tether's own code", r"(^|/)crates/tether(-proto)?/src/"),
    ("WebSocket + HTTP libraries", r"/(fastwebsockets|hyper|hyper-util|http|httparse|tungstenite|tokio-tungstenite"
     r"|sha1|sha1_smol|base64|h2|bytes)-\d"),
    ("tokio + mio", r"/(tokio|tokio-util|mio)-\d"),
    ("Rust std and core", r"/rustc/[0-9a-f]+/library/"),
    ("allocator", r"/malloc/"),
    ("libc memcpy, memset", r"/string/|mem(cpy|move|set)"),
]

def total(path):
    for line in open(path):
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])

def split(path):
    parts = {name: 0 for name, _ in PARTS}
    parts["other"] = 0
    listing = False
    for line in open(path):
        # The per-function listing only (annotated source, if any, follows it).
        if line.startswith("Ir") and "file:function" in line:
            listing = True
            continue
        if listing and line.startswith("-- ") or "Auto-annotated source" in line:
            break
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(\S.*)", line)
        if not listing or not m:
            continue
        ir, where = int(m.group(1).replace(",", "")), m.group(2)
        for name, pattern in PARTS:
            if re.search(pattern, where.split(":", 1)[0]):
                parts[name] += ir
                break
        else:
            parts["other"] += ir
    return parts

rows = []
for s in servers:
    a, b = (json.load(open(f"{out}/{s}.{t}.json")) for t in (s1, s2))
    setups = b["ops"] - a["ops"]
    per = (total(f"{out}/{s}.{s2}.callgrind") - total(f"{out}/{s}.{s1}.callgrind")) / max(setups, 1)
    parts = split(f"{out}/{s}.{s2}.txt")
    whole = sum(parts.values()) or 1
    rows.append({"server": s, "setups": [a["ops"], b["ops"]], "instructions_per_setup": round(per),
                 "share": {k: round(100 * v / whole, 1) for k, v in parts.items()}, "tls": b.get("tls")})
json.dump(rows, open(f"{out}/tls-profile.json", "w"), indent=1)
names = [n for n, _ in PARTS] + ["other"]
print("| server | instructions per setup | " + " | ".join(names) + " |")
print("|---|---|" + "---|" * len(names))
for r in rows:
    print(f"| {r['server']} | {r['instructions_per_setup']:,} | " + " | ".join(f"{r['share'][n]:.1f} %" for n in names) + " |")
PY
