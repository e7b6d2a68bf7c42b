// Node `ws` 8 echo server (with `bufferutil`), for bench/compare.sh.
// Prints its URL as the first stdout line, as `tether echo` does.
//   NODE_PATH=<deps>/node_modules node node_ws_echo.js [--listen 127.0.0.1:0] [--rooms]
// With --rooms it is a room server for the fan-out rows instead: a WebSocket
// to /rooms/NAME joins room NAME, and every message a member sends goes to
// every member of the room, the sender included, with the broadcast loop of
// ws's README.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
require('bufferutil'); // fail loudly if the native masking is missing: ws would fall back silently

let listen = '127.0.0.1:0';
let rooms = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen' || args[i] === '-l') listen = args[++i];
  else if (args[i] === '--rooms') rooms = new Map();
  else { console.error(`usage: node node_ws_echo.js [--listen ADDR] [--rooms]`); process.exit(2); }
}
const cut = listen.lastIndexOf(':');
const host = listen.slice(0, cut);
const port = Number(listen.slice(cut + 1));

// permessage-deflate with ws's defaults (threshold 1024 B, zlib level and
// window defaults); it only applies when the client offers it, which the
// generator does for the compressed workloads alone.
const wss = new WebSocketServer({ host, port, perMessageDeflate: true, maxPayload: 64 << 20, clientTracking: false });
wss.on('connection', (ws, request) => {
  ws.on('error', () => {});
  if (!rooms) {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  const name = request.url.startsWith('/rooms/') ? request.url.slice(7) : '';
  if (!rooms.has(name)) rooms.set(name, new Set());
  const room = rooms.get(name);
  room.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const member of room) {
      if (member.readyState === WebSocket.OPEN) member.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => room.delete(ws));
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`ws://${a.address}:${a.port}/\n`);
});
