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

PLAYWRIGHT_CORE_VERSION="1.64.1"

CACHE="${TETHER_CACHE:-${HOME:?set HOME or TETHER_CACHE}/.cache/tether}"
BROWSER_DIR="$CACHE/browser"
CHROMIUM="${TETHER_CHROMIUM:-/usr/bin/chromium}"

log() { echo "install-ui-deps: $*" >&2; }

mkdir -p "$BROWSER_DIR"
if command -v flock >/dev/null; then
    exec 9>"$BROWSER_DIR/.lock"
    flock -w 900 9 || { log "timed out waiting for $BROWSER_DIR/.lock"; exit 1; }
fi

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
stamp="$BROWSER_DIR/.stamp"
want="playwright-core@$PLAYWRIGHT_CORE_VERSION node=$(node -p 'process.versions.modules')"
if [[ -d "$BROWSER_DIR/node_modules/playwright-core" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "playwright-core up to date ($want)"
else
    log "installing $want"
    rm -rf "$BROWSER_DIR/node_modules" "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json" "$stamp"
    cat > "$BROWSER_DIR/package.json" <<JSON
{
  "name": "tether-browser-tests",
  "private": true,
  "version": "0.0.0",
  "dependencies": { "playwright-core": "$PLAYWRIGHT_CORE_VERSION" }
}
JSON
    # playwright-core has no install script and downloads no browser.
    (cd "$BROWSER_DIR" && npm install --no-audit --no-fund --save-exact --loglevel=error >&2)
    printf '%s' "$want" > "$stamp"
fi

echo "export TETHER_PLAYWRIGHT_MODULES=$BROWSER_DIR/node_modules"
echo "export TETHER_CHROMIUM=$CHROMIUM"
