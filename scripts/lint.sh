#!/usr/bin/env bash
# Lint gates that CI (.ci/run) runs after fmt, clippy and rustdoc, before the
# test command:
#   1. the minimum supported Rust version (`rust-version` in Cargo.toml)
#      checks every library and binary of the workspace (what a user builds;
#      tests and examples are ours, checked on the current toolchain);
#   2. clippy passes on the libraries and binaries for each cargo feature of
#      each crate on its own, and with none (cargo-hack), so no feature depends
#      on another by accident (all targets are linted once, with the default
#      features, by .ci/run, and built with every feature by the test command);
#   3. the browser build: tether and the web chat build for
#      wasm32-unknown-unknown and pass clippy there;
#   4. the publishable crates package, and each builds from its packaged
#      files alone (what a user of the registry gets).
# Installs the toolchain and cargo-hack when missing; a second run installs
# nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh  # cargo_install_tool

start=$(date +%s)
stamp() { echo "[lint] $* ($(( $(date +%s) - start )) s)" >&2; }

# ---- minimum supported Rust version ---------------------------------------
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[[ -n "$msrv" ]] || { echo "[lint] no rust-version in Cargo.toml" >&2; exit 1; }
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$msrv" --profile minimal >&2
fi
cargo "+$msrv" check --locked --workspace
stamp "Rust $msrv checks the workspace"

# ---- every feature on its own ---------------------------------------------
cargo hack --version >/dev/null 2>&1 || cargo_install_tool --locked cargo-hack
cargo hack --each-feature --workspace clippy --locked -- -D warnings
stamp "clippy passes for each feature"

# ---- the browser build -------------------------------------------------------
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown >&2
cargo build --locked -p tether-ws --target wasm32-unknown-unknown
cargo clippy --locked -p tether-ws -p tether-web-chat --target wasm32-unknown-unknown -- -D warnings
# The browser tests compile the test server's URLs in: any URL does for clippy.
TETHER_BACKENDS_URL=ws://127.0.0.1:1 TETHER_BACKENDS_REFUSED=ws://127.0.0.1:1/ \
  cargo clippy --locked -p tether-ws --target wasm32-unknown-unknown --test backends --example seed -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --locked -p tether-ws --no-deps --target wasm32-unknown-unknown
stamp "tether and the web chat build for wasm32 and pass clippy there"

# ---- packaging ----------------------------------------------------------------
# The workspace members that may be published (`publish = false` leaves one out).
mapfile -t publishable < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] != []:
        print(p["name"])')
# Cargo verifies each crate against the ones packaged before it through a
# temporary local registry. It takes a registry crate of the same version for
# unchanged, so what an earlier run unpacked and compiled from there would be
# used again: drop both first.
for name in "${publishable[@]}"; do
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/"$name"-[0-9]*
done
cargo clean --quiet "${publishable[@]/#/--package=}"
cargo package --locked --allow-dirty "${publishable[@]/#/--package=}"
stamp "packaged ${publishable[*]}"
