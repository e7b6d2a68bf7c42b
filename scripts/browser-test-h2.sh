#!/usr/bin/env bash
# The browser test over HTTP/2: `tether echo` over TLS with a throwaway CA
# (written by tether-testkit's `write_pki` example), its page loaded by
# Debian's Chromium, headless, over https with ALPN h2, and the page's
# WebSocket opened to the same origin as an RFC 8441 extended CONNECT on that
# connection (interop/browser/h2_page.test.js, node's test runner, driven by
# playwright-core). Chromium trusts the server's key by its SPKI hash.
# Installs what it needs first (scripts/install-ui-deps.sh, idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(scripts/install-ui-deps.sh)"
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
debug_build
PKI="$(mktemp -d -t tether-h2-pki.XXXXXX)"
trap 'rm -rf "$PKI"' EXIT
"${CARGO_TARGET_DIR:-target}/debug/examples/write_pki" "$PKI"
TETHER_BIN="${CARGO_TARGET_DIR:-target}/debug/tether" \
TETHER_PKI="$PKI" \
NODE_PATH="$TETHER_PLAYWRIGHT_MODULES" \
    node --test interop/browser/h2_page.test.js
