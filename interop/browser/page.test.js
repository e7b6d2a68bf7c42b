// The browser page of `tether echo`, in Debian's Chromium driven headless by
// playwright-core: the same UI as `tether chat`, over Chromium's own
// WebSocket stack (which offers permessage-deflate).
//
// Run by scripts/browser-test.sh; needs TETHER_BIN (the tether binary),
// TETHER_CHROMIUM and playwright-core on NODE_PATH. Screenshots go to
// target/screenshots/.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { REPO, SHOTS, startServer, launchBrowser, stopAll } = require("./chromium.js");
const { ansiToHtml } = require("./ansi.js");

const BIN = process.env.TETHER_BIN || path.join(REPO, "target/debug/tether");

let server; // the `tether echo` process
let pageUrl; // http://127.0.0.1:PORT/
let browser; // { context, profile }
let page;
const requests = [];
const pageErrors = [];

before(async () => {
  const started = startServer(BIN, ["echo", "--listen", "127.0.0.1:0"]);
  server = started.child;
  const url = await started.url;
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  pageUrl = url.replace(/^ws:/, "http:");
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
});

after(() => stopAll(browser, [server]));

test("the page loads, connects and negotiates permessage-deflate", async () => {
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "WebSocket (Echo)");
  await page.locator("#state.open").waitFor({ timeout: 10_000 });
  const state = await page.locator("#state").textContent();
  assert.match(state, /^open: ws:\/\/127\.0\.0\.1:\d+\/ \(permessage-deflate/);
  assert.equal(await page.getByPlaceholder("Send a message").count(), 1);
});

test("typing and clicking Send shows the echo", async () => {
  await page.getByPlaceholder("Send a message").fill("Hello!");
  await page.locator("#send").click();
  await page.locator(".line.echo", { hasText: "echo: Hello!" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".line.sent").first().textContent(), "you: Hello!");
  // A large, compressible message: compressed by Chromium, echoed compressed by us.
  const big = "tether ".repeat(20_000);
  await page.getByPlaceholder("Send a message").fill(big);
  await page.getByPlaceholder("Send a message").press("Enter");
  await page.locator(".line.echo").nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".line.echo").nth(1).textContent(), "echo: " + big);
  await page.evaluate(() => {
    // Keep the screenshot readable: fold the long echo.
    for (const line of document.querySelectorAll(".line")) {
      if (line.textContent.length > 200) line.textContent = line.textContent.slice(0, 80) + "… (140000 characters)";
    }
  });
});

test("the image endpoint's PNG arrives as binary and decodes", async () => {
  await page.locator("#image").click();
  const picture = page.locator(".line.binary img.picture");
  await picture.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector("img.picture")?.complete, null, { timeout: 10_000 });
  const size = await picture.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(size, [96, 64], "naturalWidth > 0: the bytes are a PNG the browser decoded");
  assert.match(await page.locator(".line.binary").textContent(), /^image: <binary \d+ bytes>$/);
  await page.screenshot({ path: path.join(SHOTS, "browser-chat.png") });
});

test("the page loaded nothing from elsewhere and threw nothing", () => {
  const origin = new URL(pageUrl).host;
  for (const url of requests) {
    assert.ok(/^(https?|wss?|blob):/.test(url), url);
    if (!url.startsWith("blob:")) assert.equal(new URL(url).host, origin, url);
  }
  assert.deepEqual(pageErrors, []);
});

test("a crashed server shows the network error", async () => {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  // SIGKILL: no close frame. (SIGTERM is a graceful 1001 close, not an error.)
  server.kill("SIGKILL");
  await exited;
  await page.locator("#state.error").waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#state").textContent(), /^Network error: connection to ws:\/\/127\.0\.0\.1:\d+\/ lost/);
  await page.locator(".line.error", { hasText: "Network error" }).waitFor();
  assert.equal(await page.locator("#reconnect").isVisible(), true);
  await page.screenshot({ path: path.join(SHOTS, "browser-network-error.png") });
});

test("the terminal chat's screen, captured by the tmux test, as a picture", async () => {
  const dump = path.join(SHOTS, "chat-tui.ansi");
  assert.ok(fs.existsSync(dump), `${dump} missing: the cargo test chat_runs_in_a_real_terminal writes it`);
  const html = path.join(SHOTS, "chat-tui.html");
  fs.writeFileSync(html, ansiToHtml(fs.readFileSync(dump, "utf8"), "tether chat"));
  await page.goto("file://" + html);
  await page.locator(".screen").screenshot({ path: path.join(SHOTS, "chat-tui.png") });
});
