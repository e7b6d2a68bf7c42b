// What the browser tests share: where the repository and the screenshots
// are, how Chromium is started here (headless, as root, and without the
// background networking that would try to reach the internet, which this
// machine refuses), how a server under test is started and read for its URL,
// and how both are stopped.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const REPO = path.resolve(__dirname, "../..");
const SHOTS = path.join(REPO, "target/screenshots");
const CHROMIUM = process.env.TETHER_CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
// A 1x1 PNG (the pages show a binary message that starts like a PNG as a picture).
const PNG_1X1 = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489" +
    "0000000d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082",
  "hex",
);

/**
 * Starts `bin args`, a server that prints its URL as its first stdout line.
 * Returns the child at once (so that it is stopped even if the URL never
 * comes) and a promise of that line. `onStderrLine`, if given, gets each
 * stderr line; otherwise stderr goes to the test's own.
 */
function startServer(bin, args, onStderrLine) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", onStderrLine ? "pipe" : "inherit"] });
  if (onStderrLine) readline.createInterface({ input: child.stderr }).on("line", onStderrLine);
  const url = new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${path.basename(bin)} ${args[0]} exited with ${code}`)));
    readline.createInterface({ input: child.stdout }).once("line", resolve);
  });
  return { child, url };
}

/**
 * Chromium in a fresh profile directory (removed by `stopAll`), with the
 * flags above and `extraArgs`; the screenshot directory exists afterwards.
 * Resolves to { context, profile }.
 */
async function launchBrowser(extraArgs = []) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport: { width: 900, height: 760 },
  });
  return { context, profile };
}

/** Stops what a test file started: the browser, its profile, the children still running. */
async function stopAll(browser, children) {
  if (browser?.context) await browser.context.close();
  for (const child of children) if (child && child.exitCode === null) child.kill();
  if (browser?.profile) fs.rmSync(browser.profile, { recursive: true, force: true });
}

module.exports = { REPO, SHOTS, CHROMIUM, FLAGS, PNG_1X1, startServer, launchBrowser, stopAll };
