#!/usr/bin/env bash
# Idempotently install the proxy servers the proxy tests run on loopback:
#   tinyproxy  (Debian package tinyproxy-bin): HTTP CONNECT, with BasicAuth
#   microsocks (Debian package microsocks):    SOCKS5, with user/password
#
#   scripts/install-proxies.sh
#
# Both packages hold only the binary: no system service is installed or
# started (the `tinyproxy` package would start one on all interfaces). The
# tests start each proxy themselves, bound to 127.0.0.1 on a free port, and
# stop it when done (crates/tether-testkit/src/proxies.rs).
#
# When both binaries are present this is a no-op. Otherwise it needs apt-get
# and root (or password-less sudo), as CI has; `apt-get update` runs only when
# the first install attempt cannot find the packages.
set -euo pipefail

PACKAGES=(tinyproxy-bin microsocks)
BINARIES=(/usr/bin/tinyproxy /usr/bin/microsocks)

log() { echo "install-proxies: $*" >&2; }

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$b" ]] || return 1; done
}

if have_all; then
  log "tinyproxy and microsocks present"
  exit 0
fi

command -v apt-get >/dev/null || { log "apt-get not found: install ${PACKAGES[*]} by hand"; exit 1; }
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "need root to apt-get install ${PACKAGES[*]}: run this script as root"
    exit 1
  fi
fi

# Serialise concurrent runs (apt has its own lock, but a second run would fail on it).
CACHE="${TETHER_CACHE:-${HOME:-/tmp}/.cache/tether}"
mkdir -p "$CACHE"
if command -v flock >/dev/null; then
  exec 9>"$CACHE/install-proxies.lock"
  flock -w 600 9 || { log "timed out waiting for $CACHE/install-proxies.lock"; exit 1; }
  if have_all; then log "installed meanwhile"; exit 0; fi
fi

install() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2
}
log "installing ${PACKAGES[*]}"
if ! install; then
  log "refreshing the package lists and retrying"
  "${SUDO[@]}" apt-get update -q >&2
  install
fi
have_all || { log "installed, but ${BINARIES[*]} are not all there"; exit 1; }
log "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${PACKAGES[@]}")"
