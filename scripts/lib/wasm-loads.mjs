// node scripts/lib/wasm-loads.mjs LOADER.js MODULE.wasm: exits 0 when the
// wasm-bindgen module instantiates with its loader (as a page's `init()`
// does), 1 when it does not. Outside a page the web chat's start function
// stops at "no window": that means it got as far as running Rust code.
// Used by scripts/build-web-chat.sh to keep a wasm-opt result only if it
// still works (Debian's binaryen 108 breaks wasm-bindgen's externref table).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [loader, wasm] = process.argv.slice(2);
const mod = await import(pathToFileURL(path.resolve(loader)).href);
try {
  mod.initSync({ module: fs.readFileSync(wasm) });
} catch (e) {
  if (e !== "no window" && String(e?.message ?? e) !== "no window") {
    console.error(`${wasm} does not load: ${e}`);
    process.exit(1);
  }
}
