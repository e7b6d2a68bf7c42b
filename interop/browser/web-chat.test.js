// The web chat written in Rust (examples/web-chat, tether's WebAssembly
// backend), served by `tether echo --static DIR`, in Debian's Chromium
// driven headless by playwright-core: type, send, see the echo, fetch the
// PNG, and see "Network error" once the server is gone.
//
// Run by scripts/web-chat-test.sh; needs TETHER_BIN (the tether binary),
// TETHER_WEB_CHAT_DIR (the output of scripts/build-web-chat.sh),
// TETHER_CHROMIUM and playwright-core on NODE_PATH. Screenshots go to
// target/screenshots/.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { REPO, SHOTS, startServer, launchBrowser, stopAll } = require("./chromium.js");

const BIN = process.env.TETHER_BIN || path.join(REPO, "target/debug/tether");
const DIR = process.env.TETHER_WEB_CHAT_DIR || path.join(REPO, "target/web-chat");

let server; // the `tether echo --static DIR` process
let pageUrl; // http://127.0.0.1:PORT/
let browser; // { context, profile }
let page;
const responses = [];
const pageErrors = [];

before(async () => {
  assert.ok(fs.existsSync(path.join(DIR, "tether_web_chat_bg.wasm")), `${DIR}: run scripts/build-web-chat.sh first`);
  const started = startServer(BIN, ["echo", "--listen", "127.0.0.1:0", "--static", DIR]);
  server = started.child;
  const url = await started.url;
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  pageUrl = url.replace(/^ws:/, "http:");
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("response", (r) => responses.push([r.url(), r.status(), r.headers()["content-type"]]));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
});

after(() => stopAll(browser, [server]));
test("the page loads its module and connects to the server that served it", async () => {
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "WebSocket (Echo, Rust)");
  await page.locator("#state.open").waitFor({ timeout: 20_000 });
  assert.match(await page.locator("#state").textContent(), /^open: ws:\/\/127\.0\.0\.1:\d+\/$/);
  const wasm = responses.find(([url]) => url.endsWith("/tether_web_chat_bg.wasm"));
  assert.deepEqual(wasm && wasm.slice(1), [200, "application/wasm"], "served for instantiateStreaming");
  assert.equal(await page.getByPlaceholder("Send a message").count(), 1);
});

test("typing and clicking Send shows the echo", async () => {
  await page.getByPlaceholder("Send a message").fill("Hello!");
  await page.locator("#send").click();
  await page.locator(".line.echo", { hasText: "echo: Hello!" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".line.sent").first().textContent(), "you: Hello!");
  assert.equal(await page.getByPlaceholder("Send a message").inputValue(), "", "the field is emptied");
  // Enter sends too; UTF-8 comes back as it went.
  await page.getByPlaceholder("Send a message").fill("grüße, Ελλάδα → ½ ∞");
  await page.getByPlaceholder("Send a message").press("Enter");
  await page.locator(".line.echo").nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".line.echo").nth(1).textContent(), "echo: grüße, Ελλάδα → ½ ∞");
});

test("the image button receives the PNG as a binary message and shows it", async () => {
  await page.locator("#image").click();
  const picture = page.locator(".line.binary img.picture");
  await picture.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector("img.picture")?.complete, null, { timeout: 10_000 });
  const [width, height] = await picture.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.ok(width > 0 && height > 0, "naturalWidth > 0: the bytes are a PNG the browser decoded");
  assert.deepEqual([width, height], [96, 64]);
  assert.match(await page.locator(".line.binary").textContent(), /^image: <binary \d+ bytes>$/);
  await page.screenshot({ path: path.join(SHOTS, "web-chat.png") });
});

test("a file is sent as one binary message and echoed", async () => {
  const file = { name: "bytes.bin", mimeType: "application/octet-stream", buffer: Buffer.from([0, 1, 2, 3, 255]) };
  await page.locator("#file").setInputFiles(file);
  await page.locator(".line.sent", { hasText: "you: <binary 5 bytes> bytes.bin" }).waitFor({ timeout: 10_000 });
  await page.locator(".line.binary", { hasText: "echo: <binary 5 bytes>" }).waitFor({ timeout: 10_000 });
});

test("the page loaded nothing from elsewhere and threw nothing", () => {
  const origin = new URL(pageUrl).host;
  for (const [url] of responses) {
    if (!url.startsWith("blob:")) assert.equal(new URL(url).host, origin, url);
  }
  assert.deepEqual(pageErrors, []);
});

test("a stopped server shows the network error, and Reconnect says it cannot connect", async () => {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  // SIGKILL: no close frame. (SIGTERM is a graceful 1001 close, not an error.)
  server.kill("SIGKILL");
  await exited;
  await page.locator("#state.error").waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#state").textContent(), /^Network error: connection to ws:\/\/127\.0\.0\.1:\d+\/ lost/);
  await page.locator(".line.error", { hasText: "Network error" }).waitFor();
  assert.equal(await page.locator("#send").isDisabled(), true);
  await page.screenshot({ path: path.join(SHOTS, "web-chat-network-error.png") });

  await page.locator("#reconnect").click();
  await page.locator(".line.error", { hasText: "Network error: cannot connect to ws://" }).waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#state").textContent(), /^Network error: cannot connect to /);
});
