// Node `ws` 8 room server (with `bufferutil`), for bench/compare.sh's fan-out
// rows: a WebSocket to /rooms/NAME joins room NAME, and every message a member
// sends goes to every member of the room, the sender included, with the
// broadcast loop from ws's README. Prints its URL as the first stdout line.
//   NODE_PATH=<deps>/node_modules node node_ws_rooms.js [--listen 127.0.0.1:0]
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
require('bufferutil');

let listen = '127.0.0.1:0';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen' || args[i] === '-l') listen = args[++i];
  else { console.error(`usage: node node_ws_rooms.js [--listen ADDR]`); process.exit(2); }
}
const cut = listen.lastIndexOf(':');
const rooms = new Map();
const wss = new WebSocketServer({ host: listen.slice(0, cut), port: Number(listen.slice(cut + 1)), clientTracking: false });
wss.on('connection', (ws, request) => {
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
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`ws://${a.address}:${a.port}/\n`);
});
