#!/usr/bin/env bash
# Builds the web chat (examples/web-chat, Rust on tether's WebAssembly
# backend) into DIR (default target/web-chat), ready for
#
#     tether echo --static DIR
#
# DIR gets index.html, style.css (the JavaScript page's), the wasm-bindgen
# loader tether_web_chat.js and tether_web_chat_bg.wasm: no bundler. The
# .wasm is built with the size-optimised profile `wasm-release` (Cargo.toml),
# passed through `wasm-opt -Oz` when binaryen's wasm-opt is on PATH and its
# output still loads (checked with node), and its size is printed raw and
# gzipped. Installs the wasm32 target and
# wasm-bindgen-cli first (scripts/install-wasm-tools.sh, idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${1:-target/web-chat}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
NAME=tether_web_chat

eval "$(scripts/install-wasm-tools.sh)"
cargo build --quiet -p tether-web-chat --lib --target wasm32-unknown-unknown --profile wasm-release
WASM="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/$NAME.wasm"

mkdir -p "$OUT"
# Only what this script writes is replaced; DIR may hold other files.
rm -f "$OUT/$NAME.js" "$OUT/${NAME}_bg.wasm"
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$OUT" "$WASM"
optimised="no wasm-opt on PATH (binaryen: a smaller file)"
if command -v wasm-opt >/dev/null; then
    # wasm-bindgen's output uses these features; wasm-opt must accept them.
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$OUT/${NAME}_bg.wasm" -o "$OUT/${NAME}_bg.wasm.opt"
    # Kept only if it still loads: some wasm-opt versions (Debian's 108)
    # break wasm-bindgen's externref table.
    if command -v node >/dev/null && node scripts/lib/wasm-loads.mjs "$OUT/$NAME.js" "$OUT/${NAME}_bg.wasm.opt"; then
        mv "$OUT/${NAME}_bg.wasm.opt" "$OUT/${NAME}_bg.wasm"
        optimised="wasm-opt -Oz"
    else
        rm "$OUT/${NAME}_bg.wasm.opt"
        optimised="the output of $(wasm-opt --version) does not load (or no node to check it): not used"
    fi
fi
cp examples/web-chat/index.html "$OUT/index.html"
cp crates/tether-cli/src/pages/common.css "$OUT/style.css"

raw=$(wc -c <"$OUT/${NAME}_bg.wasm")
gzipped=$(gzip -9 -c "$OUT/${NAME}_bg.wasm" | wc -c)
echo "web chat built in $OUT ($optimised)"
echo "${NAME}_bg.wasm: $raw bytes, $gzipped bytes gzipped (gzip -9)"
echo "serve it with: tether echo --static $OUT"
