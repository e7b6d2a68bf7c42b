#!/usr/bin/env bash
# Idempotently install the script peers of the comparison into
# ${TETHER_CACHE:-$HOME/.cache/tether}/bench:
#   venv/bin/python      Python `websockets` + `uvloop`  (py_websockets_echo.py)
#   node/node_modules    Node `ws` + `bufferutil`         (node_ws_echo.js)
#   uws/node_modules     `uws-pack`, a third-party npm repackaging of
#                        uWebSockets.js (its prebuilt uws_linux_x64_*.node)  (uws_rooms.mjs)
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
# uWebSockets.js is not on the npm registry; this package ships its binaries (v20.x).
UWS_PACK_VERSION="20.0.8"

install_setup bench/peers/install.sh bench
DIR="$INSTALL_DIR"
VENV="$DIR/venv"
NODE_DIR="$DIR/node"
UWS_DIR="$DIR/uws"

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

# A directory of its own: a new pin here does not reinstall the `ws` peer.
install_node_modules "uWebSockets.js peer" "$UWS_DIR" "$DIR/.uws.stamp" "uws-pack@$UWS_PACK_VERSION" uws-pack "{
  \"name\": \"tether-bench-uws\",
  \"private\": true,
  \"version\": \"0.0.0\",
  \"dependencies\": { \"uws-pack\": \"$UWS_PACK_VERSION\" }
}" "const fs = require('fs'), path = require('path');
const v = JSON.parse(fs.readFileSync(path.join(process.env.NODE_PATH, 'uws-pack/package.json'))).version;
if (v !== '$UWS_PACK_VERSION') throw new Error('uws-pack ' + v);
// ES module only, and NODE_PATH does not reach imports: by its file.
import(require('url').pathToFileURL(path.join(process.env.NODE_PATH, 'uws-pack/dist/index.mjs'))).then((uws) => { if (typeof uws.App !== 'function') throw new Error('no uws.App'); });"

echo "export TETHER_BENCH_PYTHON=$VENV/bin/python"
echo "export TETHER_BENCH_NODE_PATH=$NODE_DIR/node_modules"
echo "export TETHER_BENCH_UWS_PATH=$UWS_DIR/node_modules"
