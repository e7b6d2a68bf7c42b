#!/usr/bin/env bash
# The project's test command. On a fresh machine it installs what the tests
# need (idempotently: a second run skips the installs), then runs:
#   1. every cargo test in the workspace, every feature on (unit, loopback,
#      TLS, proxies through tinyproxy and microsocks, hubs sharing rooms
#      through redis-server, CLI, interop with Python `websockets` and
#      Node `ws`, `tether chat` in tmux);
#   2. in headless Chromium: the pages of `tether echo` (over HTTP/1.1 and
#      HTTP/2), `tether hub` and the axum example (playwright-core), and the
#      wasm backend: the shared backend tests, the seed page, the Rust web chat;
#   3. Autobahn|Testsuite against tether as a server and as a client, and
#      against the axum example as a server;
#   4. a dependency audit (cargo-deny), a fuzz smoke pass, a churn soak;
#   5. Miri over tether-proto's unit tests (full run only).
#
#   scripts/test.sh           all Autobahn cases (what CI runs)
#   scripts/test.sh --quick   Autobahn without the compression cases 12.*/13.*,
#                             shorter fuzz and soak, no Miri
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh  # cargo_install_tool

quick=()
fuzz_seconds=30
soak_seconds=60
case "${1:-}" in
  --quick) quick=(--quick); fuzz_seconds=10; soak_seconds=10 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac

start=$(date +%s)
stamp() { echo "[test] $* ($(( $(date +%s) - start )) s)" >&2; }

# Python and Node peers for the interop tests (exports their paths).
eval "$(scripts/install-peers.sh)"
stamp "interop peers ready"
# tmux for the terminal chat test; Chromium and playwright-core for the browser test.
eval "$(scripts/install-ui-deps.sh)"
stamp "tmux, chromium and playwright-core ready"

# Proxy servers and redis-server for the proxy and hub tests (Debian
# packages; needs root the first time; no system service is started).
scripts/install-servers.sh
stamp "proxy servers and redis-server ready"

# Every feature on: the Redis backplane, hyper and axum are tested too.
cargo test --workspace --all-features
stamp "cargo tests passed"

scripts/browser-test.sh
stamp "browser tests passed"
scripts/browser-test-axum.sh
stamp "browser test of the axum example passed"
scripts/browser-test-h2.sh
stamp "browser test over HTTP/2 (RFC 8441) passed"
scripts/wasm-test.sh
stamp "wasm backend (tests/backends.rs and the seed page) in Chromium passed"
scripts/web-chat-test.sh
stamp "web chat (Rust, wasm) in Chromium passed"

scripts/autobahn.sh "${quick[@]}"
stamp "Autobahn passed"
# The axum example in the server role, without the compression cases.
scripts/autobahn.sh --axum
stamp "Autobahn (axum example) passed"

# The comparison's scoring: a server echoing wrong bytes scores zero, ratios
# and ties as bench/RESULTS.md describes them (a short run of compare.sh).
scripts/bench-trust-test.sh
stamp "benchmark scoring checked"

# Dependency audit: licenses, duplicates, sources (committed deny.toml).
cargo deny --version >/dev/null 2>&1 || cargo_install_tool --locked cargo-deny
cargo deny check bans licenses sources
stamp "dependency audit passed"

# Fuzz smoke pass: every target, no crash (needs the nightly toolchain).
scripts/fuzz.sh --seconds "$fuzz_seconds"
stamp "fuzz smoke passed"

# Churn soak: RSS and descriptors of tether echo stay flat.
scripts/soak.sh churn "$soak_seconds"
stamp "soak passed"

# Undefined behaviour in the protocol engine (a few minutes, so full runs only).
if ((${#quick[@]} == 0)); then
  scripts/miri.sh
  stamp "Miri passed"
fi
