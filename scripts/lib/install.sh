# Shared by the installers (scripts/install-peers.sh, scripts/install-ui-deps.sh,
# bench/peers/install.sh); sourced, not run. It holds what they have in common:
# the cache directory outside the repository, a lock so concurrent runs (several
# test binaries at once) install once, and stamp files holding the pinned
# versions, so a second run is a no-op and a changed pin redoes only its part.
#
# Every message goes to stderr: the installers print only `export` lines on
# stdout, for `eval "$(INSTALLER)"`.

# install_setup NAME SUBDIR [LOCK_SECONDS]: names the installer in its messages,
# sets CACHE (the cache root, ${TETHER_CACHE:-$HOME/.cache/tether}) and
# INSTALL_DIR ($CACHE/SUBDIR), creates the latter and holds its lock until the
# script exits.
install_setup() {
    INSTALL_NAME=$1
    CACHE="${TETHER_CACHE:-${HOME:?set HOME or TETHER_CACHE}/.cache/tether}"
    INSTALL_DIR="$CACHE/$2"
    mkdir -p "$INSTALL_DIR"
    if command -v flock >/dev/null; then
        exec 9>"$INSTALL_DIR/.lock"
        flock -w "${3:-600}" 9 || { log "timed out waiting for $INSTALL_DIR/.lock"; exit 1; }
    fi
}

log() { echo "$INSTALL_NAME: $*" >&2; }

# stamp_is STAMP WANT: true when the last install recorded WANT in STAMP.
stamp_is() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

# install_venv WHAT VENV STAMP CHECK PACKAGE...: a Python venv at VENV holding
# the pinned PACKAGEs (pip requirement strings), made with ${PYTHON:-python3}.
# CHECK is Python code that must succeed in it (imports, versions). Redone when
# the pins or the Python version change.
install_venv() {
    local what=$1 venv=$2 stamp=$3 check=$4 python="${PYTHON:-python3}" want
    shift 4
    want="$* python=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [[ -x "$venv/bin/python" ]] && stamp_is "$stamp" "$want" && "$venv/bin/python" -c "$check" 2>/dev/null; then
        log "$what up to date ($want)"
        return
    fi
    log "installing $what ($want)"
    rm -rf "$venv" "$stamp"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
    "$venv/bin/python" -c "$check"
    printf '%s' "$want" >"$stamp"
}

# install_node_modules WHAT DIR STAMP PINS MODULE PACKAGE_JSON [CHECK]: npm
# installs the dependencies of PACKAGE_JSON (exact versions) into
# DIR/node_modules. PINS names them ("ws@8.23.0 ..."); the stamp adds node's ABI
# version, which native modules are built for. Up to date when STAMP matches and
# DIR/node_modules/MODULE exists; CHECK is JavaScript run with NODE_PATH set
# after an install (required modules, versions).
install_node_modules() {
    local what=$1 dir=$2 stamp=$3 pins=$4 module=$5 package_json=$6 check=${7:-} want
    command -v node >/dev/null || { log "node not found in PATH"; exit 1; }
    command -v npm >/dev/null || { log "npm not found in PATH"; exit 1; }
    want="$pins node=$(node -p 'process.versions.modules')"
    if [[ -d "$dir/node_modules/$module" ]] && stamp_is "$stamp" "$want"; then
        log "$what up to date ($want)"
        return
    fi
    log "installing $what ($want)"
    rm -rf "$dir/node_modules" "$dir/package.json" "$dir/package-lock.json" "$stamp"
    mkdir -p "$dir"
    printf '%s\n' "$package_json" >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --save-exact --loglevel=error >&2)
    if [[ -n "$check" ]]; then NODE_PATH="$dir/node_modules" node -e "$check"; fi
    printf '%s' "$want" >"$stamp"
}

# install_wasm_bindgen_cli LOCKFILE: wasm-bindgen-cli at exactly the version
# of the `wasm-bindgen` crate in LOCKFILE (the CLI refuses a .wasm made by
# another version), built by cargo once into
# $CACHE/wasm-bindgen-VERSION/bin; sets WASM_BINDGEN to the binary. With
# --locked first, and without it if the registry lacks a crate version the
# CLI's own lock file names. Call after install_setup.
install_wasm_bindgen_cli() {
    local lockfile=$1 version dir
    version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$lockfile")
    [[ -n "$version" ]] || { log "no wasm-bindgen in $lockfile"; exit 1; }
    dir="$CACHE/wasm-bindgen-$version"
    WASM_BINDGEN="$dir/bin/wasm-bindgen"
    if [[ -x "$WASM_BINDGEN" ]] && [[ "$("$WASM_BINDGEN" --version)" == "wasm-bindgen $version" ]]; then
        log "wasm-bindgen-cli $version up to date"
        return
    fi
    log "building wasm-bindgen-cli $version with cargo (once; cached in $dir)"
    mkdir -p "$dir"
    (
        exec 8>"$dir.lock"
        flock -w 1800 8 || { log "timed out waiting for $dir.lock"; exit 1; }
        [[ -x "$WASM_BINDGEN" ]] && exit 0
        # Built in a scratch target directory, not the project's: only the binary is kept.
        export CARGO_TARGET_DIR="$dir/build"
        # No TLS backend: the test runner talks to a local chromedriver over http.
        local args=(--quiet --root "$dir" --version "=$version" --no-default-features wasm-bindgen-cli)
        cargo_install_tool --locked "${args[@]}" || cargo_install_tool "${args[@]}"
        rm -rf "$dir/build"
    )
    "$WASM_BINDGEN" --version >&2
}

# cargo_install_tool ARGS...: `cargo install ARGS` for a tool the scripts run
# (cargo-hack, cargo-deny, cargo-fuzz, wasm-bindgen-cli), built for a short
# build rather than the fastest binary: no LTO, 16 codegen units, opt-level 1.
# These tools' own release profiles ask for fat LTO and one codegen unit, which
# on a fresh 2-core machine cost minutes of CI for checks that take seconds.
cargo_install_tool() {
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        CARGO_PROFILE_RELEASE_INCREMENTAL=false cargo install "$@" >&2
}
