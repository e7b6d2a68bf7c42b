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
const { spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");
const { REPO, SHOTS, CHROMIUM, FLAGS } = require("./chromium.js");

const BIN = process.env.TETHER_BIN || path.join(REPO, "target/debug/tether");
const PKI = process.env.TETHER_PKI;
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

before(async () => {
  assert.ok(PKI && fs.existsSync(path.join(PKI, "server.pem")), "TETHER_PKI must hold server.pem (scripts/browser-test-h2.sh)");
  fs.mkdirSync(SHOTS, { recursive: true });
  const args = ["echo", "--listen", "127.0.0.1:0"];
  args.push("--tls-cert", path.join(PKI, "server.pem"), "--tls-key", path.join(PKI, "server-key.pem"));
  server = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  readline.createInterface({ input: server.stderr }).on("line", (line) => {
    process.stderr.write(`tether echo: ${line}\n`);
    serverLog.push(line);
    for (let i = logWaiters.length - 1; i >= 0; i--) {
      if (logWaiters[i].pattern.test(line)) logWaiters.splice(i, 1)[0].resolve(line);
    }
  });
  const wsUrl = await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("exit", (code) => reject(new Error(`tether echo exited with ${code}`)));
    readline.createInterface({ input: server.stdout }).once("line", resolve);
  });
  assert.match(wsUrl, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  pageUrl = wsUrl.replace(/^wss:/, "https:");
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // A direct connection (no proxy), and the server's key trusted by hash.
    args: [...FLAGS, "--no-proxy-server", `--ignore-certificate-errors-spki-list=${spkiHash(path.join(PKI, "server.pem"))}`],
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
