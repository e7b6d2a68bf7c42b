#!/usr/bin/env bash
# The browser backend's tests: crates/tether/tests/backends.rs compiled for
# wasm32-unknown-unknown and run by wasm-bindgen-test in headless Chromium
# (Debian's chromium and chromium-driver), against the test server
# crates/tether/examples/backend_server.rs, which this script starts on a free
# loopback port. The same file runs natively with
# `cargo test -p tether-ws --test backends`.
#
# Installs what it needs first, idempotently: the rustup target, Chromium
# (scripts/install-ui-deps.sh), chromium-driver (apt), and wasm-bindgen-cli at
# exactly the `wasm-bindgen` version of Cargo.lock, built once into
# ${TETHER_CACHE:-$HOME/.cache/tether}/wasm-bindgen-cli/VERSION.
# Then it builds the seed example for the browser and runs it in Chromium
# (interop/browser/seed.test.js, playwright-core; docs/wasm.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh

# ---- the Rust target ----------------------------------------------------
INSTALL_NAME=wasm-test
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >&2
fi

# ---- Chromium and its driver --------------------------------------------
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

# ---- wasm-bindgen-cli, at the version of Cargo.lock -----------------------
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n "$WASM_BINDGEN_VERSION" ]] || { log "no wasm-bindgen in Cargo.lock"; exit 1; }
install_setup wasm-test "wasm-bindgen-cli/$WASM_BINDGEN_VERSION" 1800
BINDGEN_DIR="$INSTALL_DIR"
RUNNER="$BINDGEN_DIR/bin/wasm-bindgen-test-runner"
if [[ -x "$RUNNER" ]] && "$BINDGEN_DIR/bin/wasm-bindgen" --version | grep -q " $WASM_BINDGEN_VERSION\$"; then
    log "wasm-bindgen-cli $WASM_BINDGEN_VERSION present"
else
    log "building wasm-bindgen-cli $WASM_BINDGEN_VERSION (once)"
    # --locked fails when its lock names a crate version the registry has
    # withdrawn; then resolve afresh.
    cargo install --quiet wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --locked --root "$BINDGEN_DIR" >&2 ||
        cargo install --quiet wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --root "$BINDGEN_DIR" >&2
fi
# Chromium runs as root here: no sandbox, and the system binary.
WEBDRIVER_JSON="$BINDGEN_DIR/webdriver.json"
cat >"$WEBDRIVER_JSON" <<JSON
{ "goog:chromeOptions": { "binary": "$TETHER_CHROMIUM", "args": ["--no-sandbox", "--headless=new", "--disable-gpu"] } }
JSON
flock -u 9 2>/dev/null || true

# ---- the test server ----------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet -p tether-ws --example backend_server
SERVER_OUT=$(mktemp)
"$TARGET_DIR/debug/examples/backend_server" >"$SERVER_OUT" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -f "$SERVER_OUT"' EXIT
for _ in $(seq 100); do
    [[ -s "$SERVER_OUT" ]] && break
    kill -0 "$SERVER_PID" || { log "the test server exited"; exit 1; }
    sleep 0.1
done
read -r BASE_URL REFUSED_URL <"$SERVER_OUT"
log "test server at $BASE_URL (refused: $REFUSED_URL)"

# ---- the tests, in the browser -------------------------------------------
# The page cannot read the environment: the URLs are compiled in.
TETHER_BACKENDS_URL="$BASE_URL" TETHER_BACKENDS_REFUSED="$REFUSED_URL" \
CHROMEDRIVER="$CHROMEDRIVER" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$WEBDRIVER_JSON" \
WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}" \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$RUNNER" \
    cargo test -p tether-ws --target wasm32-unknown-unknown --test backends

# ---- the seed example, for the browser -------------------------------------
cargo build --quiet -p tether-ws --target wasm32-unknown-unknown --example seed
SEED_OUT="$TARGET_DIR/wasm-seed"
"$BINDGEN_DIR/bin/wasm-bindgen" --target web --no-typescript --out-dir "$SEED_OUT" \
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
