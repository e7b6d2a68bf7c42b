// Node `ws` 8 echo server (with `bufferutil`), for bench/compare.sh.
// Prints its URL as the first stdout line, as `tether echo` does.
//   NODE_PATH=<deps>/node_modules node node_ws_echo.js [--listen 127.0.0.1:0]
'use strict';
const { WebSocketServer } = require('ws');
require('bufferutil'); // fail loudly if the native masking is missing: ws would fall back silently

let listen = '127.0.0.1:0';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen' || args[i] === '-l') listen = args[++i];
  else { console.error(`usage: node node_ws_echo.js [--listen ADDR]`); process.exit(2); }
}
const cut = listen.lastIndexOf(':');
const host = listen.slice(0, cut);
const port = Number(listen.slice(cut + 1));

// permessage-deflate with ws's defaults (threshold 1024 B, zlib level and
// window defaults); it only applies when the client offers it, which the
// generator does for the compressed workloads alone.
const wss = new WebSocketServer({ host, port, perMessageDeflate: true, maxPayload: 64 << 20, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`ws://${a.address}:${a.port}/\n`);
});
