// What the browser tests share: where the repository and the screenshots
// are, and how Chromium is started here (headless, as root, and without
// the background networking that would try to reach the internet, which
// this machine refuses).
"use strict";

const path = require("node:path");

const REPO = path.resolve(__dirname, "../..");
const SHOTS = path.join(REPO, "target/screenshots");
const CHROMIUM = process.env.TETHER_CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

module.exports = { REPO, SHOTS, CHROMIUM, FLAGS };
