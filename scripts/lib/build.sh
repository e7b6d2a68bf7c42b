# shellcheck shell=bash
# The builds the test scripts share, each with ONE feature set, so that no
# script builds tether again with another (a different feature set is a
# different build of tether-ws and of everything above it).
#
#   debug_build     the workspace's binaries and examples, every feature on:
#                   what `cargo test --workspace --all-features` (the test
#                   command's first step) builds, so after it a no-op.
#   interop_build   the programs the conformance and soak runs start, in the
#                   `interop` profile (opt-level 1, no LTO): the `tether`
#                   binary and the autobahn_client, axum_echo and soak
#                   examples, in one cargo invocation; without the CLI's
#                   default `jemalloc` feature (conformance and leaks do not
#                   depend on the allocator, and jemalloc's C build would
#                   cost a fresh machine about 3 CPU-minutes more).
#
# Source it, then call the function; output goes to stderr.

debug_build() {
    cargo build --quiet --workspace --all-features --bins --examples >&2
}

interop_build() {
    # tether-ws keeps its default features: the CLI depends on them.
    cargo build --quiet --profile interop -p tether-ws-cli -p tether-ws \
        --no-default-features --features tether-ws/axum \
        --bin tether --example autobahn_client --example axum_echo --example soak >&2
}
