#!/usr/bin/env bash
# The browser backend's tests: crates/tether/tests/backends.rs compiled for
# wasm32-unknown-unknown and run by wasm-bindgen-test in headless Chromium
# (Debian's chromium and chromium-driver), against the test server
# crates/tether/examples/backend_server.rs, which this script starts on a free
# loopback port. The same file runs natively with
# `cargo test -p tether-ws --test backends`.
#
# Installs what it needs first, idempotently: the rustup target and
# wasm-bindgen-cli at exactly the `wasm-bindgen` version of Cargo.lock, built
# once (scripts/install-wasm-tools.sh), Chromium (scripts/install-ui-deps.sh)
# and chromium-driver (apt).
# Then it builds the seed example for the browser and runs it in Chromium
# (interop/browser/seed.test.js, playwright-core; docs/wasm.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh

# ---- the Rust target and wasm-bindgen-cli ---------------------------------
# The target, and wasm-bindgen-cli at the wasm-bindgen version of Cargo.lock
# (its bin/ also holds wasm-bindgen-test-runner).
eval "$(scripts/install-wasm-tools.sh)"
RUNNER="$(dirname "$WASM_BINDGEN")/wasm-bindgen-test-runner"
[[ -x "$RUNNER" ]] || { echo "wasm-test: no $RUNNER" >&2; exit 1; }

# ---- Chromium and its driver --------------------------------------------
INSTALL_NAME=wasm-test
eval "$(scripts/install-ui-deps.sh)"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
if [[ ! -x "$CHROMEDRIVER" ]]; then
    log "installing chromium-driver with apt-get"
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq >&2
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 chromium-driver >&2
fi
"$CHROMEDRIVER" --version >&2
# Chromium runs as root here: no sandbox, and the system binary.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
WEBDRIVER_JSON="$SCRATCH/webdriver.json"
cat >"$WEBDRIVER_JSON" <<JSON
{ "goog:chromeOptions": { "binary": "$TETHER_CHROMIUM", "args": ["--no-sandbox", "--headless=new", "--disable-gpu"] } }
JSON

# ---- the test server ----------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
debug_build
SERVER_OUT="$SCRATCH/server.out"
"$TARGET_DIR/debug/examples/backend_server" >"$SERVER_OUT" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 100); do
    [[ -s "$SERVER_OUT" ]] && break
    kill -0 "$SERVER_PID" || { log "the test server exited"; exit 1; }
    sleep 0.1
done
read -r BASE_URL REFUSED_URL <"$SERVER_OUT"
log "test server at $BASE_URL (refused: $REFUSED_URL)"

# ---- the tests, in the browser -------------------------------------------
# The page cannot read the environment: the URLs, and the browser API the
# cases use, are compiled in. Twice: through WebSocketStream (Chromium has
# it), then through the plain WebSocket (TETHER_BACKENDS_PATH=websocket).
for path in stream websocket; do
    log "browser cases through the $path path"
    TETHER_BACKENDS_URL="$BASE_URL" TETHER_BACKENDS_REFUSED="$REFUSED_URL" TETHER_BACKENDS_PATH="$path" \
    CHROMEDRIVER="$CHROMEDRIVER" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$WEBDRIVER_JSON" \
    WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$RUNNER" \
        cargo test -p tether-ws --target wasm32-unknown-unknown --test backends
done

# ---- the seed example, for the browser -------------------------------------
cargo build --quiet -p tether-ws --target wasm32-unknown-unknown --example seed
SEED_OUT="$TARGET_DIR/wasm-seed"
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$SEED_OUT" \
    "$TARGET_DIR/wasm32-unknown-unknown/debug/examples/seed.wasm"
cat >"$SEED_OUT/index.html" <<'HTML'
<!doctype html>
<meta charset="utf-8">
<title>tether seed</title>
<script type="module">import init from "./seed.js"; init();</script>
HTML
# ...and run in Chromium against the test server: the five steps, then a failure.
SEED_DIR="$SEED_OUT" SEED_ECHO_URL="$BASE_URL/echo" SEED_REFUSED_URL="$REFUSED_URL" \
NODE_PATH="$TETHER_PLAYWRIGHT_MODULES" \
    node --test interop/browser/seed.test.js
log "seed_bg.wasm (debug build): $(wc -c <"$SEED_OUT/seed_bg.wasm") bytes"
