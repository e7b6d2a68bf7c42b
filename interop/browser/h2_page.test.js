// The page of `tether echo` over HTTP/2 in Debian's Chromium, headless,
// driven by playwright-core. Chromium speaks RFC 8441 only for `wss://`, on
// a direct connection, over an HTTP/2 session to the same origin that is
// already open and announced SETTINGS_ENABLE_CONNECT_PROTOCOL, and never
// over h2c. So `tether echo` serves TLS with a throwaway CA's certificate
// (Chromium trusts its key by SPKI hash), the page comes over https h2, and
// its WebSocket to the same origin must arrive as an extended CONNECT: the
// server logs the protocol of each WebSocket on stderr, which this test reads.
//
// Run by scripts/browser-test-h2.sh; needs TETHER_BIN, TETHER_PKI (a
// directory with server.pem and server-key.pem), TETHER_CHROMIUM and
// playwright-core on NODE_PATH.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { REPO, SHOTS, PNG_1X1, startServer, launchBrowser, stopAll } = require("./chromium.js");

const BIN = process.env.TETHER_BIN || path.join(REPO, "target/debug/tether");
const PKI = process.env.TETHER_PKI;

let server;
let pageUrl;
let browser;
let page;
const serverLog = []; // stderr lines of `tether echo`
const logWaiters = [];
const pageErrors = [];

/** Base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo (Chromium's SPKI list). */
function spkiHash(pemFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemFile));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return crypto.createHash("sha256").update(spki).digest("base64");
}

/** Resolves with the first server log line matching `pattern` (already logged or to come). */
function logLine(pattern) {
  const seen = serverLog.find((l) => pattern.test(l));
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => logWaiters.push({ pattern, resolve }));
}

/** Keeps a line of the server's stderr (and echoes it) for `logLine`. */
function onServerLog(line) {
  process.stderr.write(`tether echo: ${line}\n`);
  serverLog.push(line);
  for (let i = logWaiters.length - 1; i >= 0; i--) {
    if (logWaiters[i].pattern.test(line)) logWaiters.splice(i, 1)[0].resolve(line);
  }
}

before(async () => {
  assert.ok(PKI && fs.existsSync(path.join(PKI, "server.pem")), "TETHER_PKI must hold server.pem (scripts/browser-test-h2.sh)");
  const args = ["echo", "--listen", "127.0.0.1:0"];
  args.push("--tls-cert", path.join(PKI, "server.pem"), "--tls-key", path.join(PKI, "server-key.pem"));
  const started = startServer(BIN, args, onServerLog);
  server = started.child;
  const wsUrl = await started.url;
  assert.match(wsUrl, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  pageUrl = wsUrl.replace(/^wss:/, "https:");
  // A direct connection (no proxy), and the server's key trusted by hash.
  browser = await launchBrowser(["--no-proxy-server", `--ignore-certificate-errors-spki-list=${spkiHash(path.join(PKI, "server.pem"))}`]);
  page = await browser.context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
});

after(() => stopAll(browser, [server]));

test("the page comes over HTTPS with HTTP/2", async () => {
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "WebSocket (Echo)");
  const protocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  assert.equal(protocol, "h2");
});

test("its WebSocket opens to the same origin as an extended CONNECT", async () => {
  await page.locator("#state.open").waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#state").textContent(), /^open: wss:\/\/127\.0\.0\.1:\d+\/ \(permessage-deflate/);
  const line = await logLine(/: WebSocket \/ over /);
  assert.match(line, /: WebSocket \/ over HTTP\/2 \(extended CONNECT, TLS\)$/);
});

test("text, compressed text and a binary image are echoed over the HTTP/2 stream", async () => {
  await page.getByPlaceholder("Send a message").fill("Hello over h2!");
  await page.locator("#send").click();
  await page.locator(".line.echo", { hasText: "echo: Hello over h2!" }).waitFor({ timeout: 10_000 });
  // Larger than a stream's window, and compressible.
  const big = "tether over h2 ".repeat(40_000);
  await page.getByPlaceholder("Send a message").fill(big);
  await page.getByPlaceholder("Send a message").press("Enter");
  await page.locator(".line.echo").nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(".line.echo").nth(1).textContent(), "echo: " + big);
  await page.evaluate(() => {
    for (const line of document.querySelectorAll(".line")) {
      if (line.textContent.length > 200) line.textContent = line.textContent.slice(0, 80) + "… (600000 characters)";
    }
  });
  await page.locator("#file").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG_1X1 });
  const picture = page.locator(".line.binary img.picture");
  await picture.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector(".line.binary img.picture")?.complete, null, {
    timeout: 10_000,
  });
  assert.deepEqual(await picture.evaluate((img) => [img.naturalWidth, img.naturalHeight]), [1, 1]);
  await page.screenshot({ path: path.join(SHOTS, "browser-h2-chat.png") });
});

test("a second WebSocket (the image endpoint) shares the connection", async () => {
  await page.locator("#image").click();
  await page.locator(".line.binary", { hasText: /^image: <binary \d+ bytes>$/ }).waitFor({ timeout: 10_000 });
  const second = await logLine(/: WebSocket \/image over HTTP\/2 \(extended CONNECT, TLS\)$/);
  const first = await logLine(/: WebSocket \/ over /);
  // The same client address and port: one TCP connection carries both.
  assert.equal(second.split(": ")[0], first.split(": ")[0]);
  assert.ok(!serverLog.some((l) => /over HTTP\/1\.1/.test(l)), serverLog.join("\n"));
  assert.deepEqual(pageErrors, []);
});
