// The chat page served by the `axum_echo` example (tether inside axum) in
// Debian's Chromium, headless, driven by playwright-core: the page at `/`
// opens its WebSocket at `/ws` (HTTP/1.1: Chromium speaks RFC 8441 only over
// TLS), negotiates permessage-deflate, and text and a binary image come back.
//
// Run by scripts/browser-test-axum.sh; needs AXUM_ECHO_BIN (the example's
// binary), TETHER_CHROMIUM and playwright-core on NODE_PATH.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { REPO, SHOTS, PNG_1X1, startServer, launchBrowser, stopAll } = require("./chromium.js");

const BIN = process.env.AXUM_ECHO_BIN || path.join(REPO, "target/debug/examples/axum_echo");

let server;
let pageUrl;
let browser;
let page;
const pageErrors = [];

before(async () => {
  const started = startServer(BIN, ["127.0.0.1:0"]);
  server = started.child;
  const wsUrl = await started.url;
  assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  pageUrl = wsUrl.replace(/^ws:/, "http:").replace(/\/ws$/, "/");
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
});

after(() => stopAll(browser, [server]));

test("the page connects to /ws and negotiates permessage-deflate", async () => {
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  await page.locator("#state.open").waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#state").textContent(), /^open: ws:\/\/127\.0\.0\.1:\d+\/ws \(permessage-deflate/);
});

test("text is echoed", async () => {
  await page.getByPlaceholder("Send a message").fill("Hello, axum!");
  await page.locator("#send").click();
  await page.locator(".line.echo", { hasText: "echo: Hello, axum!" }).waitFor({ timeout: 10_000 });
});

test("a binary image is echoed and decodes", async () => {
  await page.locator("#file").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG_1X1 });
  const picture = page.locator(".line.binary img.picture");
  await picture.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector(".line.binary img.picture")?.complete, null, {
    timeout: 10_000,
  });
  assert.deepEqual(await picture.evaluate((img) => [img.naturalWidth, img.naturalHeight]), [1, 1]);
  assert.match(await page.locator(".line.binary").textContent(), /^echo: <binary \d+ bytes>$/);
  await page.screenshot({ path: path.join(SHOTS, "browser-axum-chat.png") });
  assert.deepEqual(pageErrors, []);
});
