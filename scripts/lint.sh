#!/usr/bin/env bash
# Lint gates that CI (.ci/run) runs after fmt, clippy and rustdoc, before the
# test command:
#   1. the publishable crates package, and each builds from its packaged
#      files alone with the minimum supported Rust version (`rust-version` in
#      Cargo.toml): what a user of the registry builds (tests and examples are
#      ours, checked on the current toolchain);
#   2. clippy passes on the libraries and binaries for each cargo feature of
#      each crate on its own, and with none (cargo-hack), so no feature depends
#      on another by accident (all targets are linted once, with the default
#      features, by .ci/run, and built with every feature by the test command);
#   3. the browser build: tether and the web chat build for
#      wasm32-unknown-unknown and pass clippy there.
# Installs the toolchain and cargo-hack when missing; a second run installs
# nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh  # cargo_install_tool

start=$(date +%s)
stamp() { echo "[lint] $* ($(( $(date +%s) - start )) s)" >&2; }

# ---- the packaged crates, with the minimum supported Rust version ---------
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
[[ -n "$msrv" ]] || { echo "[lint] no rust-version in Cargo.toml" >&2; exit 1; }
if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$msrv" --profile minimal >&2
fi
# The workspace members that may be published (`publish = false` leaves one
# out), as NAME@VERSION.
mapfile -t publishable < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["publish"] != []:
        print(p["name"] + "@" + p["version"])')
cargo package --locked --allow-dirty --no-verify "${publishable[@]/#/--package=}" >&2
# Cargo's own verification would compile each packaged crate and all its
# dependencies again (minutes on a fresh machine). Instead the unpacked
# crates form a scratch workspace, each other's registry dependency patched
# to its packaged copy, with the project's lock file and dev profile, checked
# in the project's target directory: one check on the minimum Rust version
# of exactly what a user builds, its dependencies compiled once.
verify=target/package/verify
rm -rf "$verify" && mkdir -p "$verify"
# -m: extracted files dated now (the archive's dates are fixed ones), so the
# check sees what changed since its last run.
for crate in "${publishable[@]}"; do tar -xzmf "target/package/${crate/@/-}.crate" -C "$verify"; done
cp Cargo.lock "$verify/"
python3 - "$verify" "${publishable[@]}" <<'PY'
import re, sys
verify, crates = sys.argv[1], sys.argv[2:]
root = open("Cargo.toml").read()
# The project's [profile.*] sections (a package's own profiles are ignored).
profiles = "".join(m.group(0) for m in re.finditer(r"(?ms)^\[profile\.[^\n]*\n.*?(?=^\[|\Z)", root))
dirs = {c.split("@")[0]: c.replace("@", "-") for c in crates}
with open(f"{verify}/Cargo.toml", "w") as f:
    f.write('[workspace]\nresolver = "2"\nmembers = [%s]\n\n' % ", ".join(f'"{d}"' for d in dirs.values()))
    f.write("[patch.crates-io]\n")
    for name, d in dirs.items():
        f.write(f'{name} = {{ path = "{d}" }}\n')
    f.write("\n" + profiles)
PY
# A check links nothing: jemalloc's C library (the CLI's allocator) is not
# built for it, only its Rust crates are checked (tikv-jemalloc-sys takes a
# prebuilt library from JEMALLOC_OVERRIDE; an empty archive does here).
: >"$verify/libjemalloc_unused.a"
JEMALLOC_OVERRIDE="$PWD/$verify/libjemalloc_unused.a" CARGO_TARGET_DIR="$PWD/target" \
  cargo "+$msrv" check --manifest-path "$verify/Cargo.toml" --workspace
stamp "${publishable[*]} package, and build from their packaged files with Rust $msrv"

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
