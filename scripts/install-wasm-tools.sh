#!/usr/bin/env bash
# Idempotently install what building tether for the browser needs:
#   - the rustup target wasm32-unknown-unknown;
#   - wasm-bindgen-cli at exactly the version of `wasm-bindgen` in
#     Cargo.lock, built by cargo into
#     ${TETHER_CACHE:-$HOME/.cache/tether}/wasm-bindgen-VERSION (once).
#
# On success it prints `export` lines on stdout (everything else goes to
# stderr), so `eval "$(scripts/install-wasm-tools.sh)"` works and sets
# WASM_BINDGEN. A second run installs nothing.
set -euo pipefail
# shellcheck source=scripts/lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

install_setup install-wasm-tools wasm 1800

if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "target wasm32-unknown-unknown present"
else
    log "adding the target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >&2
fi

install_wasm_bindgen_cli "$REPO/Cargo.lock"

echo "export WASM_BINDGEN=$WASM_BINDGEN"
