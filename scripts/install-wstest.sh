#!/usr/bin/env bash
# Install Autobahn|Testsuite (`wstest`) into a Python 2.7 virtualenv.
#
#   scripts/install-wstest.sh        # prints the wstest path as the last stdout line
#
# The suite (autobahntestsuite 25.10.1) only runs on Python 2.7 and declares no
# dependencies, so every package is pinned below. The env lives in
#   ${TETHER_CACHE:-$HOME/.cache/tether}/wstest
# and a marker file (holding a hash of the pins) makes a second run instant.
# All progress output goes to stderr; stdout carries only the wstest path.
#
# Next to `wstest` it installs `wstest-loopback`: the same program, but every
# socket it listens on is bound to 127.0.0.1. (wstest's fuzzingserver mode
# calls autobahn's listenWS() with interface='' and so would bind all
# interfaces; the spec's "url" host is not used for binding.)
#
# Environment:
#   TETHER_CACHE     cache root (default: $HOME/.cache/tether)
#   WSTEST_PYTHON2   python2.7 interpreter (default: pyenv's 2.7.18, then python2.7 on PATH)
#   WSTEST_PYTHON3   python3 used to bootstrap virtualenv (default: python3)
set -euo pipefail

CACHE="${TETHER_CACHE:-$HOME/.cache/tether}"
PREFIX="$CACHE/wstest"
WSTEST="$PREFIX/bin/wstest"
MARKER="$PREFIX/.tether-wstest-installed"

# virtualenv 20.21.1 is the last release able to create a Python 2.7 env.
VIRTUALENV_PIN="virtualenv==20.21.1"

# Direct requirements of the suite, then what pip resolves under 2.7 (pinned too).
PY27_PINS=(
  "autobahn[twisted,accelerate]==0.10.9"
  Twisted==19.10.0 zope.interface==4.6.0 pyOpenSSL==19.1.0 cryptography==3.3.2
  service-identity==18.1.0 klein==17.10.0 Werkzeug==1.0.1 Jinja2==2.11.3
  MarkupSafe==1.1.1 txaio==2.1.0 incremental==16.10.1 unittest2==1.1.0
  six==1.16.0 wsaccel==0.6.6 ujson==2.0.3 setuptools==44.0.0
  attrs==21.4.0 Automat==22.10.0 cffi==1.15.1 constantly==15.1.0 enum34==1.1.10
  hyperlink==21.0.0 idna==2.10 ipaddress==1.0.23 pyasn1==0.5.1
  pyasn1-modules==0.3.0 pycparser==2.21 PyHamcrest==1.10.1 typing==3.10.0.0
  argparse==1.4.0
)
SUITE_PIN="autobahntestsuite==25.10.1"

# The loopback wrapper: patch the reactor's listen calls, then run wstest.
WRAPPER_BODY='# wstest with all listening sockets forced onto 127.0.0.1 (by install-wstest.sh).
import sys
from autobahntestsuite import wstest  # must come first: it installs the reactor
from twisted.internet import reactor

def _loopback(listen, nargs):
    def wrapped(*args, **kwargs):
        kwargs["interface"] = "127.0.0.1"
        return listen(*args[:nargs], **kwargs)  # drop a positional interface
    return wrapped

# listenTCP(port, factory, backlog, interface)
# listenSSL(port, factory, contextFactory, backlog, interface)
reactor.listenTCP = _loopback(reactor.listenTCP, 3)
reactor.listenSSL = _loopback(reactor.listenSSL, 4)

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    sys.exit(wstest.run())
'

log() { printf '[install-wstest] %s\n' "$*" >&2; }

# Anything that changes the env must change this key, so the marker goes stale.
KEY="$(printf '%s\n' "v1" "$VIRTUALENV_PIN" "${PY27_PINS[@]}" "$SUITE_PIN" "$WRAPPER_BODY" | sha256sum | cut -d' ' -f1)"

installed() {
  [[ -f "$MARKER" && -x "$WSTEST" && -x "$PREFIX/bin/wstest-loopback" && "$(<"$MARKER")" == "$KEY" ]]
}

# Fast path: no locking, no python start-up.
if installed; then echo "$WSTEST"; exit 0; fi

mkdir -p "$CACHE"
# Serialise concurrent installers (e.g. two scripts started at once).
exec 9>"$CACHE/wstest.lock"
flock 9
if installed; then echo "$WSTEST"; exit 0; fi

find_python2() {
  if [[ -n "${WSTEST_PYTHON2:-}" ]]; then echo "$WSTEST_PYTHON2"; return; fi
  local root="${PYENV_ROOT:-}"
  if [[ -z "$root" ]] && command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
  [[ -z "$root" ]] && root="$HOME/.pyenv"
  if [[ -x "$root/versions/2.7.18/bin/python2.7" ]]; then
    echo "$root/versions/2.7.18/bin/python2.7"; return
  fi
  command -v python2.7 || true
}

PY2="$(find_python2)"
if [[ -z "$PY2" ]] || ! "$PY2" -c 'import sys, ssl; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
  log "error: no usable Python 2.7 (with ssl) found; set WSTEST_PYTHON2"
  exit 1
fi
PY3="${WSTEST_PYTHON3:-python3}"
log "python2: $PY2"

# Keep pip's own noise out of the way; the suite's env has no use for upgrades.
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1
export PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-180}"

# 1. A small Python 3 venv holding the pinned virtualenv.
BOOT="$CACHE/virtualenv-py3"
if ! "$BOOT/bin/python" -c 'import virtualenv, sys; sys.exit(virtualenv.__version__ != "20.21.1")' 2>/dev/null; then
  log "creating bootstrap venv with $VIRTUALENV_PIN"
  rm -rf "$BOOT"
  "$PY3" -m venv "$BOOT"
  "$BOOT/bin/python" -m pip install -q "$VIRTUALENV_PIN" >&2
fi

# 2. The Python 2.7 env, rebuilt from scratch (virtualenvs cannot be moved,
#    so it is built in place; the marker is written only once all is done).
log "creating Python 2.7 env at $PREFIX"
rm -rf "$PREFIX"
"$BOOT/bin/virtualenv" -q --no-periodic-update --app-data "$CACHE/virtualenv-appdata" \
  -p "$PY2" "$PREFIX" >&2

log "installing pinned dependencies"
"$PREFIX/bin/python" -m pip install -q "${PY27_PINS[@]}" >&2
log "installing $SUITE_PIN (--no-deps)"
"$PREFIX/bin/python" -m pip install -q --no-deps "$SUITE_PIN" >&2

# 3. The loopback wrapper.
{ echo "#!$PREFIX/bin/python"; printf '%s' "$WRAPPER_BODY"; } >"$PREFIX/bin/wstest-loopback"
chmod +x "$PREFIX/bin/wstest-loopback"

# 4. Smoke test: the suite and its accelerators import.
"$PREFIX/bin/python" -c 'import autobahntestsuite, autobahn, twisted, wsaccel, ujson' >&2
"$PREFIX/bin/wstest-loopback" -a >&2

echo "$KEY" >"$MARKER"
log "installed"
echo "$WSTEST"
