#!/usr/bin/env bash
# Idempotently install what the chat UI tests need:
#   - tmux (Debian) for the terminal chat test (`chat_runs_in_a_real_terminal`);
#   - chromium (Debian) for the browser page test: test tools cannot
#     download a browser of their own here, so the system one is driven;
#   - playwright-core (npm, pinned) into
#     ${TETHER_CACHE:-$HOME/.cache/tether}/browser/node_modules.
#
# On success it prints `export` lines on stdout (everything else goes to
# stderr), so `eval "$(scripts/install-ui-deps.sh)"` works. A second run
# installs nothing.
set -euo pipefail
# shellcheck source=scripts/lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"

PLAYWRIGHT_CORE_VERSION="1.64.1"

# apt-get may take a while the first time: wait longer for the lock.
install_setup install-ui-deps browser 900
BROWSER_DIR="$INSTALL_DIR"
CHROMIUM="${TETHER_CHROMIUM:-/usr/bin/chromium}"

# ---- Debian packages ----------------------------------------------------
missing=()
command -v tmux >/dev/null || missing+=(tmux)
[[ -x "$CHROMIUM" ]] || missing+=(chromium)
# A monospace font with box drawing, for the picture of the terminal chat.
fc-list 2>/dev/null | grep -q "DejaVu Sans Mono" || missing+=(fonts-dejavu-core)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq >&2
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
else
    log "tmux, chromium and fonts present"
fi
"$CHROMIUM" --version >&2

# ---- playwright-core ----------------------------------------------------
# playwright-core has no install script and downloads no browser.
install_node_modules playwright-core "$BROWSER_DIR" "$BROWSER_DIR/.stamp" \
    "playwright-core@$PLAYWRIGHT_CORE_VERSION" playwright-core "{
  \"name\": \"tether-browser-tests\",
  \"private\": true,
  \"version\": \"0.0.0\",
  \"dependencies\": { \"playwright-core\": \"$PLAYWRIGHT_CORE_VERSION\" }
}"

echo "export TETHER_PLAYWRIGHT_MODULES=$BROWSER_DIR/node_modules"
echo "export TETHER_CHROMIUM=$CHROMIUM"
