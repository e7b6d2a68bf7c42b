// The room chat page of `tether hub`, in Debian's Chromium driven headless
// by playwright-core: two pages in one room see each other's messages and
// the member count, and a page that changes room leaves the first; then two
// pages on two hubs sharing a redis-server do the same across the hubs.
//
// Run by scripts/browser-test.sh, like page.test.js (same environment).
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const net = require("node:net");
const path = require("node:path");
const { REPO, SHOTS, startServer, launchBrowser, stopAll } = require("./chromium.js");

const BIN = process.env.TETHER_BIN || path.join(REPO, "target/debug/tether");

const children = []; // every process started here, stopped at the end
let pageUrl; // http://127.0.0.1:PORT/ of the first hub
let browser; // { context, profile }
const pageErrors = [];

/** Starts `tether hub` on a free loopback port; resolves to its http:// URL. */
async function startHub(...more) {
  const hub = startServer(BIN, ["hub", "--listen", "127.0.0.1:0", "--quiet", ...more]);
  children.push(hub.child);
  const url = await hub.url;
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  return url.replace(/^ws:/, "http:");
}

/** A free loopback port (for redis-server, which cannot pick its own). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a redis-server of this test (no persistence); resolves to its URL once it answers. */
async function startRedis() {
  const port = await freePort();
  const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(redis);
  for (let i = 0; i < 200; i++) {
    if (redis.exitCode !== null) throw new Error(`redis-server exited with ${redis.exitCode}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(socket.end() && true)).once("error", () => resolve(false));
    });
    if (up) return `redis://127.0.0.1:${port}/`;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("redis-server did not listen");
}

/** A new page on a hub (the first by default), in the room "lobby" under `name`. */
async function member(name, url = pageUrl) {
  const page = await browser.context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "WebSocket (Rooms)");
  await page.locator("#state.open").waitFor({ timeout: 10_000 });
  await page.locator("#name").fill(name);
  return page;
}

before(async () => {
  pageUrl = await startHub();
  browser = await launchBrowser();
});

after(() => stopAll(browser, children));

test("two pages in a room see every message and the member count", async () => {
  const alice = await member("alice");
  const bob = await member("bob");
  assert.match(await alice.locator("#state").textContent(), /^in room lobby: ws:\/\/127\.0\.0\.1:\d+\/rooms\/lobby$/);
  // The count is polled every 2 s: wait for it to catch up.
  for (const page of [alice, bob]) {
    await page.locator("#members", { hasText: /^2$/ }).waitFor({ timeout: 10_000 });
  }
  await alice.getByPlaceholder("Send a message").fill("hello, room");
  await alice.getByPlaceholder("Send a message").press("Enter");
  await bob.getByPlaceholder("Send a message").fill("hi alice");
  await bob.locator("#send").click();
  for (const page of [alice, bob]) {
    await page.locator(".line.message").nth(1).waitFor({ timeout: 10_000 });
    const lines = await page.locator(".line.message").allTextContents();
    assert.deepEqual(lines.sort(), ["alice: hello, room", "bob: hi alice"], "the sender's own message too");
  }
  await alice.screenshot({ path: path.join(SHOTS, "browser-rooms.png") });

  // Bob changes room: alice's room is down to one member, bob's new room empty of old messages.
  await bob.locator("#room").fill("elsewhere");
  await bob.locator("#join").click();
  await bob.locator("#state", { hasText: "in room elsewhere" }).waitFor({ timeout: 10_000 });
  assert.equal(await bob.locator(".line.message").count(), 0);
  await alice.locator("#members", { hasText: /^1$/ }).waitFor({ timeout: 10_000 });
  await bob.locator("#members", { hasText: /^1$/ }).waitFor({ timeout: 10_000 });
  assert.deepEqual(pageErrors, []);
});

test("two pages on two hubs sharing a Redis see every message and both members", async () => {
  const redis = await startRedis();
  const [urlA, urlB] = [await startHub("--redis", redis), await startHub("--redis", redis)];
  const carol = await member("carol", urlA);
  const dave = await member("dave", urlB);
  for (const page of [carol, dave]) {
    await page.locator("#room").fill("across");
    await page.locator("#join").click();
    await page.locator("#state", { hasText: "in room across" }).waitFor({ timeout: 10_000 });
  }
  // Each hub counts the other's members through Redis (every second), the page polls every 2 s.
  for (const page of [carol, dave]) {
    await page.locator("#members", { hasText: /^2$/ }).waitFor({ timeout: 15_000 });
  }
  await carol.getByPlaceholder("Send a message").fill("from hub a");
  await carol.getByPlaceholder("Send a message").press("Enter");
  await dave.locator(".line.message").first().waitFor({ timeout: 10_000 });
  await dave.getByPlaceholder("Send a message").fill("from hub b");
  await dave.getByPlaceholder("Send a message").press("Enter");
  for (const page of [carol, dave]) {
    await page.locator(".line.message").nth(1).waitFor({ timeout: 10_000 });
    const lines = await page.locator(".line.message").allTextContents();
    assert.deepEqual(lines, ["carol: from hub a", "dave: from hub b"], "one order on both hubs");
  }
  await dave.screenshot({ path: path.join(SHOTS, "browser-rooms-two-hubs.png") });
  assert.deepEqual(pageErrors, []);
});
