#!/usr/bin/env bash
# Idempotently install the interop peers' dependencies (Python `websockets`
# and `h2`, Node `ws` + `bufferutil`) into a cache directory outside the repo.
#
#   ${TETHER_CACHE:-$HOME/.cache/tether}/peers/venv/bin/python   -> runs interop/peers/py_peer.py and py_h2_peer.py
#   ${TETHER_CACHE:-$HOME/.cache/tether}/peers/node/node_modules -> NODE_PATH for interop/peers/node_peer.js
#
# On success the script prints `export` lines on stdout (everything else goes
# to stderr), so `eval "$(scripts/install-peers.sh)"` works.
# A stamp file holding the pinned versions makes a second run a no-op; change
# a pin below and the affected part is reinstalled.
set -euo pipefail
# shellcheck source=scripts/lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"

WEBSOCKETS_VERSION="16.1.1"
H2_VERSION="4.4.1"               # HTTP/2 frame by frame: interop/peers/py_h2_peer.py
WS_VERSION="8.23.0"
BUFFERUTIL_VERSION="4.1.0"
NODE_GYP_BUILD_VERSION="4.8.4"   # bufferutil's only dependency, pinned via "overrides"

install_setup install-peers peers
PEERS="$INSTALL_DIR"
VENV="$PEERS/venv"
NODE_DIR="$PEERS/node"

install_venv "python peer deps" "$VENV" "$PEERS/.python.stamp" \
    "import websockets, h2; assert websockets.__version__ == '$WEBSOCKETS_VERSION', websockets.__version__; assert h2.__version__ == '$H2_VERSION', h2.__version__" \
    "websockets==$WEBSOCKETS_VERSION" "h2==$H2_VERSION"

install_node_modules "node peer deps" "$NODE_DIR" "$PEERS/.node.stamp" \
    "ws@$WS_VERSION bufferutil@$BUFFERUTIL_VERSION node-gyp-build@$NODE_GYP_BUILD_VERSION" ws "{
  \"name\": \"tether-interop-peers\",
  \"private\": true,
  \"version\": \"0.0.0\",
  \"dependencies\": {
    \"bufferutil\": \"$BUFFERUTIL_VERSION\",
    \"ws\": \"$WS_VERSION\"
  },
  \"overrides\": {
    \"node-gyp-build\": \"$NODE_GYP_BUILD_VERSION\"
  }
}" "
    const v = require('ws/package.json').version;
    if (v !== '$WS_VERSION') { console.error('ws version ' + v); process.exit(1); }
    require('bufferutil');"

echo "export TETHER_PEER_PYTHON=$VENV/bin/python"
echo "export NODE_PATH=$NODE_DIR/node_modules"
