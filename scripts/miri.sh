#!/usr/bin/env bash
# Miri (the nightly toolchain's interpreter that catches undefined behaviour)
# over tether-proto's unit tests. Installs the miri and rust-src components of
# the nightly toolchain if they are missing. Tests that push megabytes
# through zlib are marked `cfg_attr(miri, ignore)`: they run natively.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "[miri] installing the miri and rust-src components (nightly)" >&2
  if ! rustup component add --toolchain nightly miri rust-src >&2; then
    echo "[miri] SKIPPED: the miri component could not be installed on this machine" >&2
    exit 0
  fi
fi
cargo +nightly miri setup >&2
cargo +nightly miri test -p tether-proto --lib
