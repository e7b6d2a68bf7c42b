#!/usr/bin/env bash
# Idempotently install the script peers of the comparison into
# ${TETHER_CACHE:-$HOME/.cache/tether}/bench:
#   venv/bin/python      Python `websockets` + `uvloop`  (py_websockets_echo.py)
#   node/node_modules    Node `ws` + `bufferutil`         (node_ws_echo.js)
# Prints `export` lines on stdout (everything else goes to stderr), so
# `eval "$(bench/peers/install.sh)"` works. A stamp holding the pinned
# versions makes a second run a no-op; change a pin and that part is redone.
set -euo pipefail
# shellcheck source=scripts/lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/install.sh"

WEBSOCKETS_VERSION="17.4"
UVLOOP_VERSION="0.23.0"
WS_VERSION="8.23.0"
BUFFERUTIL_VERSION="4.1.0"
NODE_GYP_BUILD_VERSION="4.8.4"

install_setup bench/peers/install.sh bench
DIR="$INSTALL_DIR"
VENV="$DIR/venv"
NODE_DIR="$DIR/node"

install_venv "python peer" "$VENV" "$DIR/.python.stamp" \
    "import websockets, uvloop; assert websockets.__version__ == '$WEBSOCKETS_VERSION', websockets.__version__" \
    "websockets==$WEBSOCKETS_VERSION" "uvloop==$UVLOOP_VERSION"

install_node_modules "node peer" "$NODE_DIR" "$DIR/.node.stamp" \
    "ws@$WS_VERSION bufferutil@$BUFFERUTIL_VERSION node-gyp-build@$NODE_GYP_BUILD_VERSION" ws "{
  \"name\": \"tether-bench-peers\",
  \"private\": true,
  \"version\": \"0.0.0\",
  \"dependencies\": { \"bufferutil\": \"$BUFFERUTIL_VERSION\", \"ws\": \"$WS_VERSION\" },
  \"overrides\": { \"node-gyp-build\": \"$NODE_GYP_BUILD_VERSION\" }
}" "require('bufferutil'); require('ws');"

echo "export TETHER_BENCH_PYTHON=$VENV/bin/python"
echo "export TETHER_BENCH_NODE_PATH=$NODE_DIR/node_modules"
