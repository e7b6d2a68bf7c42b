#!/usr/bin/env bash
# The browser test of the `axum_echo` example (tether inside axum): its chat
# page in Debian's Chromium, headless, driven by playwright-core
# (interop/browser/axum_page.test.js, node's test runner). Installs what it
# needs first (scripts/install-ui-deps.sh, idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(scripts/install-ui-deps.sh)"
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
debug_build
AXUM_ECHO_BIN="${CARGO_TARGET_DIR:-target}/debug/examples/axum_echo" \
NODE_PATH="$TETHER_PLAYWRIGHT_MODULES" \
    node --test interop/browser/axum_page.test.js
