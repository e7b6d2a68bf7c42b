// The seed example built for the browser (crates/tether/examples/seed.rs
// through wasm-bindgen, no bundler), in Debian's Chromium driven headless by
// playwright-core: the same five steps as the native example, from the same
// async function, with the lines shown in the page.
//
// Run by scripts/wasm-test.sh; needs SEED_DIR (the wasm-bindgen output with
// its index.html), SEED_ECHO_URL (an echo server), SEED_REFUSED_URL (where
// nothing listens), TETHER_CHROMIUM and playwright-core on NODE_PATH.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { CHROMIUM, FLAGS } = require("./chromium.js");

const DIR = process.env.SEED_DIR;
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

let server; // serves DIR on a free loopback port
let origin;
let browser;

before(async () => {
  server = http.createServer((req, res) => {
    const name = path.basename(new URL(req.url, "http://x").pathname) || "index.html";
    const file = path.join(DIR, name);
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(name)] || "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Opens the seed's page against `url`; resolves to the lines it shows once it is done. */
async function run(url) {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/index.html?url=${encodeURIComponent(url)}`);
    await page.waitForFunction(() => /closed:|Network error/.test(document.body.innerText));
    return await page.$$eval("p", (ps) => ps.map((p) => p.textContent));
  } finally {
    await page.close();
  }
}

test("the five steps run in the page", async () => {
  assert.deepEqual(await run(process.env.SEED_ECHO_URL), [
    "echo: Hello!",
    "echo: 4 bytes of binary",
    "closed: 1000 bye",
  ]);
});

test("a failure shows as a network error", async () => {
  const lines = await run(process.env.SEED_REFUSED_URL);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^Network error: cannot connect to /);
});
