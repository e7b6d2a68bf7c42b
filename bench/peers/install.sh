#!/usr/bin/env bash
# Idempotently install the script peers of the comparison into
# ${TETHER_CACHE:-$HOME/.cache/tether}/bench:
#   venv/bin/python      Python `websockets` + `uvloop`  (py_websockets_echo.py)
#   node/node_modules    Node `ws` + `bufferutil`         (node_ws_echo.js)
# Prints `export` lines on stdout (everything else goes to stderr), so
# `eval "$(bench/peers/install.sh)"` works. A stamp holding the pinned
# versions makes a second run a no-op; change a pin and that part is redone.
set -euo pipefail

WEBSOCKETS_VERSION="17.4"
UVLOOP_VERSION="0.23.0"
WS_VERSION="8.23.0"
BUFFERUTIL_VERSION="4.1.0"
NODE_GYP_BUILD_VERSION="4.8.4"

CACHE="${TETHER_CACHE:-${HOME:?set HOME or TETHER_CACHE}/.cache/tether}"
DIR="$CACHE/bench"
VENV="$DIR/venv"
NODE_DIR="$DIR/node"
PYTHON="${PYTHON:-python3}"

log() { echo "bench/peers/install.sh: $*" >&2; }
mkdir -p "$DIR"
if command -v flock >/dev/null; then
    exec 9>"$DIR/.lock"
    flock -w 600 9 || { log "timed out waiting for $DIR/.lock"; exit 1; }
fi

py_stamp="$DIR/.python.stamp"
py_want="websockets==$WEBSOCKETS_VERSION uvloop==$UVLOOP_VERSION python=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ -x "$VENV/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_want" ]] \
    && "$VENV/bin/python" -c 'import websockets, uvloop' 2>/dev/null; then
    log "python peer up to date ($py_want)"
else
    log "installing python peer ($py_want)"
    rm -rf "$VENV" "$py_stamp"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "websockets==$WEBSOCKETS_VERSION" "uvloop==$UVLOOP_VERSION" >&2
    "$VENV/bin/python" -c 'import websockets, uvloop, sys; assert websockets.__version__ == sys.argv[1], websockets.__version__' \
        "$WEBSOCKETS_VERSION"
    printf '%s' "$py_want" > "$py_stamp"
fi

command -v node >/dev/null || { log "node not found in PATH"; exit 1; }
command -v npm >/dev/null || { log "npm not found in PATH"; exit 1; }
node_stamp="$DIR/.node.stamp"
node_want="ws@$WS_VERSION bufferutil@$BUFFERUTIL_VERSION node-gyp-build@$NODE_GYP_BUILD_VERSION node=$(node -p 'process.versions.modules')"
if [[ -d "$NODE_DIR/node_modules/ws" && -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_want" ]]; then
    log "node peer up to date ($node_want)"
else
    log "installing node peer ($node_want)"
    rm -rf "$NODE_DIR" "$node_stamp"
    mkdir -p "$NODE_DIR"
    cat > "$NODE_DIR/package.json" <<JSON
{
  "name": "tether-bench-peers",
  "private": true,
  "version": "0.0.0",
  "dependencies": { "bufferutil": "$BUFFERUTIL_VERSION", "ws": "$WS_VERSION" },
  "overrides": { "node-gyp-build": "$NODE_GYP_BUILD_VERSION" }
}
JSON
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --save-exact --loglevel=error >&2)
    NODE_PATH="$NODE_DIR/node_modules" node -e 'require("bufferutil"); require("ws")'
    printf '%s' "$node_want" > "$node_stamp"
fi

echo "export TETHER_BENCH_PYTHON=$VENV/bin/python"
echo "export TETHER_BENCH_NODE_PATH=$NODE_DIR/node_modules"
