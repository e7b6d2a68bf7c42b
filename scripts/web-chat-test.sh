#!/usr/bin/env bash
# The browser test of the web chat written in Rust: scripts/build-web-chat.sh
# builds it (installing the wasm32 target and wasm-bindgen-cli once), then
# `tether echo --static DIR` serves it to Debian's Chromium, headless,
# driven by playwright-core (interop/browser/web-chat.test.js, node's test
# runner). Installs what it needs first (scripts/install-ui-deps.sh,
# idempotent). Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
eval "$(scripts/install-ui-deps.sh)"
scripts/build-web-chat.sh "$TARGET_DIR/web-chat"
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
# The server the test starts (built by `cargo test` already: then a no-op).
debug_build
TETHER_BIN="$TARGET_DIR/debug/tether" \
TETHER_WEB_CHAT_DIR="$TARGET_DIR/web-chat" \
NODE_PATH="$TETHER_PLAYWRIGHT_MODULES" \
    node --test interop/browser/web-chat.test.js
