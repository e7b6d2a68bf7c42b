#!/usr/bin/env bash
# Idempotently install the interop peers' dependencies (Python `websockets`,
# Node `ws` + `bufferutil`) into a cache directory outside the repo.
#
#   ${TETHER_CACHE:-$HOME/.cache/tether}/peers/venv/bin/python   -> runs interop/peers/py_peer.py
#   ${TETHER_CACHE:-$HOME/.cache/tether}/peers/node/node_modules -> NODE_PATH for interop/peers/node_peer.js
#
# On success the script prints `export` lines on stdout (everything else goes
# to stderr), so `eval "$(scripts/install-peers.sh)"` works.
# A stamp file holding the pinned versions makes a second run a no-op; change
# a pin below and the affected part is reinstalled.
set -euo pipefail

WEBSOCKETS_VERSION="16.1.1"
WS_VERSION="8.23.0"
BUFFERUTIL_VERSION="4.1.0"
NODE_GYP_BUILD_VERSION="4.8.4"   # bufferutil's only dependency, pinned via "overrides"

CACHE="${TETHER_CACHE:-${HOME:?set HOME or TETHER_CACHE}/.cache/tether}"
PEERS="$CACHE/peers"
VENV="$PEERS/venv"
NODE_DIR="$PEERS/node"
PYTHON="${PYTHON:-python3}"

log() { echo "install-peers: $*" >&2; }

mkdir -p "$PEERS"

# Serialise concurrent runs (e.g. several test binaries calling this at once).
if command -v flock >/dev/null; then
    exec 9>"$PEERS/.lock"
    flock -w 600 9 || { log "timed out waiting for $PEERS/.lock"; exit 1; }
fi

# ---- Python venv --------------------------------------------------------
py_stamp="$PEERS/.python.stamp"
py_want="websockets==$WEBSOCKETS_VERSION python=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ -x "$VENV/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_want" ]] \
    && "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    log "python peer deps up to date ($py_want)"
else
    log "installing python peer deps ($py_want)"
    rm -rf "$VENV" "$py_stamp"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "websockets==$WEBSOCKETS_VERSION" >&2
    "$VENV/bin/python" -c "import websockets, sys; assert websockets.__version__ == sys.argv[1], websockets.__version__" \
        "$WEBSOCKETS_VERSION"
    printf '%s' "$py_want" > "$py_stamp"
fi

# ---- Node modules -------------------------------------------------------
command -v node >/dev/null || { log "node not found in PATH"; exit 1; }
command -v npm >/dev/null || { log "npm not found in PATH"; exit 1; }
node_stamp="$PEERS/.node.stamp"
node_want="ws@$WS_VERSION bufferutil@$BUFFERUTIL_VERSION node-gyp-build@$NODE_GYP_BUILD_VERSION node=$(node -p 'process.versions.modules')"
if [[ -d "$NODE_DIR/node_modules/ws" && -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_want" ]]; then
    log "node peer deps up to date ($node_want)"
else
    log "installing node peer deps ($node_want)"
    rm -rf "$NODE_DIR" "$node_stamp"
    mkdir -p "$NODE_DIR"
    cat > "$NODE_DIR/package.json" <<JSON
{
  "name": "tether-interop-peers",
  "private": true,
  "version": "0.0.0",
  "dependencies": {
    "bufferutil": "$BUFFERUTIL_VERSION",
    "ws": "$WS_VERSION"
  },
  "overrides": {
    "node-gyp-build": "$NODE_GYP_BUILD_VERSION"
  }
}
JSON
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --save-exact --loglevel=error >&2)
    NODE_PATH="$NODE_DIR/node_modules" node -e '
        const v = require("ws/package.json").version;
        if (v !== process.argv[1]) { console.error("ws version " + v); process.exit(1); }
        require("bufferutil");' "$WS_VERSION"
    printf '%s' "$node_want" > "$node_stamp"
fi

echo "export TETHER_PEER_PYTHON=$VENV/bin/python"
echo "export NODE_PATH=$NODE_DIR/node_modules"
