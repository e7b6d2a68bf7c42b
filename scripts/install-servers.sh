#!/usr/bin/env bash
# Idempotently install the servers the tests run on loopback:
#   tinyproxy    (Debian package tinyproxy-bin): HTTP CONNECT, with BasicAuth
#   microsocks   (Debian package microsocks):    SOCKS5, with user/password
#   redis-server (Debian package redis-server):   the hubs' shared backplane
#
#   scripts/install-servers.sh
#
# No system service is left running: the proxy packages hold only the binary
# (the `tinyproxy` package would start one on all interfaces), and the
# redis-server package is installed with service starts refused
# (policy-rc.d). The tests start each server themselves, bound to 127.0.0.1
# on a free port, and stop it when done (crates/tether-testkit/src/proxies.rs,
# crates/tether-hub/tests/redis.rs).
#
# When both binaries are present this is a no-op. Otherwise it needs apt-get
# and root (or password-less sudo), as CI has; `apt-get update` runs only when
# the first install attempt cannot find the packages.
set -euo pipefail

PACKAGES=(tinyproxy-bin microsocks redis-server)
BINARIES=(/usr/bin/tinyproxy /usr/bin/microsocks /usr/bin/redis-server)

log() { echo "install-servers: $*" >&2; }

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$b" ]] || return 1; done
}

if have_all; then
  log "tinyproxy, microsocks and redis-server present"
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
  exec 9>"$CACHE/install-servers.lock"
  flock -w 600 9 || { log "timed out waiting for $CACHE/install-servers.lock"; exit 1; }
  if have_all; then log "installed meanwhile"; exit 0; fi
fi

# While installing, refuse service starts (exit 101 from policy-rc.d), so the
# redis-server package does not start a system Redis.
POLICY=/usr/sbin/policy-rc.d
install() {
  local own_policy=0 status=0
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod +x "$POLICY"
    own_policy=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2 || status=$?
  if ((own_policy)); then "${SUDO[@]}" rm -f "$POLICY"; fi
  return "$status"
}
log "installing ${PACKAGES[*]}"
if ! install; then
  log "refreshing the package lists and retrying"
  "${SUDO[@]}" apt-get update -q >&2
  install
fi
have_all || { log "installed, but ${BINARIES[*]} are not all there"; exit 1; }
log "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${PACKAGES[@]}")"
