#!/usr/bin/env bash
# Run the Autobahn|Testsuite conformance suite against tether.
#
#   scripts/autobahn.sh [--quick] [--client-only|--server-only|--axum]
#
#   --quick        skip the permessage-deflate cases (12.*, 13.*)
#   --server-only  only test tether as a server (wstest -m fuzzingclient)
#   --client-only  only test tether as a client (wstest -m fuzzingserver)
#   --axum         the server role against the axum_echo example (tether in
#                  axum), without the compression cases (implies --quick)
#
# With both roles, they run side by side (one wstest process each).
#
# Reports: target/autobahn/{server,client}/index.html (+ index.json),
#          target/autobahn/summary.json, logs in target/autobahn/*.log
#          (target/autobahn-axum/ with --axum).
# Exit status: 0 when every case is OK/INFORMATIONAL or listed in
# autobahn/expected-failures.txt; non-zero otherwise.
#
# Environment:
#   TETHER_SERVER_CMD  command starting an echo server that prints its
#                      ws://127.0.0.1:PORT URL as the first stdout line
#                      (default: target/interop/tether echo --listen 127.0.0.1:0,
#                      built with the `interop` profile: opt-level 1, no LTO)
#   TETHER_CLIENT_CMD  command run as `$TETHER_CLIENT_CMD URL AGENT`
#                      (default: target/interop/examples/autobahn_client)
#   SKIP_BUILD=1       do not run cargo
#   AUTOBAHN_TIMEOUT   seconds allowed per role (default 1800)
#   TETHER_CACHE       where wstest is installed (see install-wstest.sh)
#
# All traffic stays on 127.0.0.1: wstest runs through the `wstest-loopback`
# wrapper, which binds its listening sockets to 127.0.0.1 only.

# Functions below are reached via traps and "run_${role}_role":
# shellcheck disable=SC2317
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

QUICK=0
AXUM=0
ROLES=(server client)
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --server-only) ROLES=(server) ;;
    --client-only) ROLES=(client) ;;
    --axum) AXUM=1 QUICK=1 ROLES=(server) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

AGENT=tether
OUT="$ROOT/target/autobahn"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-1800}"
SERVER_BIN="$TARGET_DIR/interop/tether"
SERVER_CMD="${TETHER_SERVER_CMD:-$(printf '%q' "$SERVER_BIN") echo --listen 127.0.0.1:0}"
if ((AXUM)); then
  AGENT=tether-axum
  OUT="$ROOT/target/autobahn-axum"
  SERVER_BIN="$TARGET_DIR/interop/examples/axum_echo"
  SERVER_CMD="${TETHER_SERVER_CMD:-$(printf '%q' "$SERVER_BIN") 127.0.0.1:0}"
fi
CLIENT_CMD="${TETHER_CLIENT_CMD:-$(printf '%q' "$TARGET_DIR/interop/examples/autobahn_client")}"
if ((QUICK)); then EXCLUDE='["12.*", "13.*"]'; MODE=quick; else EXCLUDE='[]'; MODE=full; fi

log() { printf '[autobahn] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- process handling -------------------------------------------------------
# Every background process is started with setsid (its own process group), so
# stopping it also stops anything it spawned. Stopped again on exit, whatever
# the reason.
PGIDS=()
start_bg() { # start_bg STDOUT-FILE STDERR-FILE CMD...; sets BG_PID
  if [[ "$1" == "$2" ]]; then
    setsid "${@:3}" >"$1" 2>&1 </dev/null &
  else
    setsid "${@:3}" >"$1" 2>"$2" </dev/null &
  fi
  BG_PID=$!
  PGIDS+=("$BG_PID")
}
alive() { # a child that exited but was not reaped yet is a zombie: not alive
  [[ -r /proc/$1/stat ]] && [[ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]]
}
stop_group() {
  local pid=$1 i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PGIDS[@]+"${PGIDS[@]}"}"; do stop_group "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Refuse to go on if anything listens on PORT beyond loopback.
assert_loopback_only() {
  command -v ss >/dev/null 2>&1 || return 0
  local bad
  bad="$(ss -ltnH "sport = :$1" | awk '{print $4}' | grep -Ev '^(127\.[0-9.]+|\[::1\]):' || true)"
  [[ -z "$bad" ]] || die "port $1 is bound beyond loopback: $bad"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- setup ------------------------------------------------------------------
WSTEST="$("$ROOT/scripts/install-wstest.sh" | tail -n 1)"
WSTEST_LB="$(dirname "$WSTEST")/wstest-loopback"
[[ -x "$WSTEST_LB" ]] || die "$WSTEST_LB missing; rerun scripts/install-wstest.sh"

# need_binary ENVVAR PATH: with the default command, its binary must exist.
need_binary() {
  [[ -z "${!1:-}" && ! -x "$2" ]] || return 0
  die "$2 not found: build it (unset SKIP_BUILD) or set $1"
}

if [[ "${SKIP_BUILD:-0}" != 1 && ( -z "${TETHER_SERVER_CMD:-}" || -z "${TETHER_CLIENT_CMD:-}" ) ]]; then
  # The server, the client and the axum example in one build (scripts/lib/build.sh).
  log "building tether, autobahn_client and axum_echo (interop profile)"
  # shellcheck source=scripts/lib/build.sh
  source "$ROOT/scripts/lib/build.sh"
  interop_build
fi

for role in "${ROLES[@]}"; do
  if [[ $role == server ]]; then need_binary TETHER_SERVER_CMD "$SERVER_BIN"; fi
  if [[ $role == client ]]; then need_binary TETHER_CLIENT_CMD "$TARGET_DIR/interop/examples/autobahn_client"; fi
done

rm -rf "$OUT"
mkdir -p "$OUT"

# write_spec FILE JSON-HEAD: the common case selection is appended here.
write_spec() {
  cat >"$1" <<EOF
{
  $2,
  "cases": ["*"],
  "exclude-cases": $EXCLUDE,
  "exclude-agent-cases": {}
}
EOF
}

summarize() { # summarize ROLE SECONDS
  python3 "$ROOT/scripts/autobahn_summary.py" \
    --role "$1" --agent "$AGENT" --index "$OUT/$1/index.json" \
    --expected "$ROOT/autobahn/expected-failures.txt" \
    --summary "$OUT/summary.json" --mode "$MODE" --duration "$2"
}

# --- server role: wstest's fuzzing client against the tether echo server ----
run_server_role() {
  local t0 url="" i rc=0
  t0="$(now)"
  log "server role: starting: $SERVER_CMD"
  start_bg "$OUT/tether-server.out" "$OUT/tether-server.log" bash -c "exec $SERVER_CMD"
  local srv=$BG_PID
  # The URL is the first full line on the server's stdout.
  for ((i = 0; i < 300; i++)); do
    if [[ -f "$OUT/tether-server.out" ]] && IFS= read -r url <"$OUT/tether-server.out" \
      && [[ -n "$url" ]]; then break; fi
    alive "$srv" || { cat "$OUT/tether-server.log" >&2; die "echo server exited before printing its URL"; }
    url=""
    sleep 0.1
  done
  url="${url%$'\r'}"
  [[ -n "$url" ]] || die "echo server printed no URL within 30 s"
  # A path is allowed: the axum example serves its WebSocket at /ws.
  [[ "$url" =~ ^ws://(127\.[0-9.]+|localhost|\[::1\]):[0-9]+(/[A-Za-z0-9._/-]*)?$ ]] \
    || die "echo server URL is not a plain ws:// loopback URL: $url"
  log "server role: testing $url"

  write_spec "$OUT/fuzzingclient.json" "\"outdir\": \"$OUT/server\",
  \"servers\": [{\"agent\": \"$AGENT\", \"url\": \"$url\"}]"
  start_bg "$OUT/wstest-server.log" "$OUT/wstest-server.log" timeout -k 10 "$TIMEOUT" \
    "$WSTEST_LB" -m fuzzingclient -s "$OUT/fuzzingclient.json"
  wait "$BG_PID" || rc=$?
  if ((rc != 0)); then
    log "server role: wstest exited with $rc; last lines of $OUT/wstest-server.log:"
    tail -n 20 "$OUT/wstest-server.log" >&2
  fi
  alive "$srv" || log "server role: warning: the echo server died during the run"
  stop_group "$srv"
  log "server role: done in $(elapsed "$t0" | tee "$OUT/server.secs") s"
  return "$rc"
}

# --- client role: the tether client against wstest's fuzzing server ---------
run_client_role() {
  local t0 port url i rc=0
  t0="$(now)"
  port="$(free_port)"
  url="ws://127.0.0.1:$port"
  write_spec "$OUT/fuzzingserver.json" "\"url\": \"$url\",
  \"outdir\": \"$OUT/client\""
  log "client role: starting wstest fuzzing server on $url"
  # -u 0: no report web server.
  start_bg "$OUT/wstest-client.log" "$OUT/wstest-client.log" timeout -k 10 "$TIMEOUT" \
    "$WSTEST_LB" -m fuzzingserver -s "$OUT/fuzzingserver.json" -u 0
  local ws=$BG_PID
  for ((i = 0; i < 300; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    alive "$ws" || { cat "$OUT/wstest-client.log" >&2; die "wstest fuzzing server exited"; }
    sleep 0.1
  done
  ((i < 300)) || die "wstest fuzzing server did not accept on port $port within 30 s"
  assert_loopback_only "$port"

  log "client role: running: $CLIENT_CMD $url $AGENT"
  start_bg "$OUT/tether-client.log" "$OUT/tether-client.log" timeout -k 10 "$TIMEOUT" \
    bash -c "exec $CLIENT_CMD \"\$@\"" autobahn-client "$url" "$AGENT"
  wait "$BG_PID" || rc=$?
  if ((rc != 0)); then
    log "client role: client exited with $rc; last lines of $OUT/tether-client.log:"
    tail -n 20 "$OUT/tether-client.log" >&2
  else
    # /updateReports writes the report before the client sees the close; allow a moment.
    for ((i = 0; i < 100; i++)); do [[ -f "$OUT/client/index.json" ]] && break; sleep 0.1; done
  fi
  stop_group "$ws"
  log "client role: done in $(elapsed "$t0" | tee "$OUT/client.secs") s"
  return "$rc"
}

# --- main ---------------------------------------------------------------------
# The two roles share nothing but the machine, and each wstest is one Python
# process on one core: with both roles they run side by side, which halves
# the wall time on two cores. Each role runs in a subshell with its own
# cleanup; the summary is written afterwards, one role at a time.
declare -A ROLE_PID
ROLE_SUBSHELLS=()
stop_roles() {
  local pid
  for pid in "${ROLE_SUBSHELLS[@]+"${ROLE_SUBSHELLS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
  cleanup
}
trap stop_roles EXIT
for role in "${ROLES[@]}"; do
  (
    PGIDS=()
    trap cleanup EXIT
    trap 'exit 143' TERM
    "run_${role}_role"
  ) &
  ROLE_PID[$role]=$!
  ROLE_SUBSHELLS+=("$!")
done

STATUS=0
declare -A RESULT
for role in "${ROLES[@]}"; do
  rc=0
  wait "${ROLE_PID[$role]}" || rc=$?
  secs="$(cat "$OUT/$role.secs" 2>/dev/null || echo 0)"
  summarize "$role" "$secs" || rc=1
  if ((rc == 0)); then RESULT[$role]=pass; else RESULT[$role]=FAIL; STATUS=1; fi
done

echo
echo "Autobahn ($MODE) results, reports under ${OUT#"$ROOT"/}/:"
for role in "${ROLES[@]}"; do
  printf '  %-6s %-4s  %6s s   %s\n' "$role" "${RESULT[$role]}" "$(cat "$OUT/$role.secs" 2>/dev/null || echo '?')" \
    "${OUT#"$ROOT"/}/$role/index.html"
done
exit "$STATUS"
