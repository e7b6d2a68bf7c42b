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
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");
const { REPO, SHOTS, CHROMIUM, FLAGS } = require("./chromium.js");

const BIN = process.env.AXUM_ECHO_BIN || path.join(REPO, "target/debug/examples/axum_echo");
// A 1x1 PNG (the page shows a binary message that starts like a PNG as a picture).
const PNG_1X1 = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489" +
    "0000000d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082",
  "hex",
);

let server;
let pageUrl;
let context;
let page;
let profile;
const pageErrors = [];

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  server = spawn(BIN, ["127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  const wsUrl = await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("exit", (code) => reject(new Error(`axum_echo exited with ${code}`)));
    readline.createInterface({ input: server.stdout }).once("line", resolve);
  });
  assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  pageUrl = wsUrl.replace(/^ws:/, "http:").replace(/\/ws$/, "/");
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 900, height: 760 },
  });
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
});

after(async () => {
  if (context) await context.close();
  if (server && server.exitCode === null) server.kill();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

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
