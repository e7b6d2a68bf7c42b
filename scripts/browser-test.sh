#!/usr/bin/env bash
# The browser tests: the pages of `tether echo` and `tether hub` in Debian's
# Chromium, headless, driven by playwright-core (interop/browser/page.test.js
# and hub-page.test.js, node's test runner).
# Installs what it needs first (scripts/install-ui-deps.sh, idempotent).
# Screenshots land in target/screenshots/; the terminal chat's picture is
# rendered from the screen the cargo test `chat_runs_in_a_real_terminal`
# captured, so run the cargo tests first (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(scripts/install-ui-deps.sh)"
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
# The binary the test starts (built by `cargo test` already: then a no-op).
debug_build
TETHER_BIN="${CARGO_TARGET_DIR:-target}/debug/tether" \
NODE_PATH="$TETHER_PLAYWRIGHT_MODULES" \
    node --test interop/browser/page.test.js interop/browser/hub-page.test.js
