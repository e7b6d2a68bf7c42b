// uWebSockets.js pub/sub room server, for the fan-out rows of bench/compare.sh.
// Prints its URL as the first stdout line, as `tether hub` does.
//   TETHER_BENCH_UWS_PATH=<deps>/node_modules node uws_rooms.mjs [--listen 127.0.0.1:0]
// uWebSockets.js is not on the npm registry: this loads `uws-pack` (20.0.8,
// MIT), a third-party npm repackaging of its release binaries
// (dist/bin/uws_linux_x64_<node ABI>.node; bench/peers/install.sh pins it).
// A WebSocket to /rooms/NAME subscribes to topic NAME on open; every message
// a member sends is published to the topic with `app.publish`, so the
// sender gets it too, as in `tether hub`. uWS builds the frame once per
// publish and, per subscriber, writes it out or (past `maxBackpressure`)
// drops it: the limit is set far above what a row queues, so a drop shows
// as a loss in the generator's report, not as silence.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.TETHER_BENCH_UWS_PATH;
if (!modules) {
  console.error('TETHER_BENCH_UWS_PATH is not set (eval "$(bench/peers/install.sh)")');
  process.exit(2);
}
// An ES module only, and imports do not look in NODE_PATH: by its file.
const uws = await import(pathToFileURL(path.join(modules, 'uws-pack/dist/index.mjs')));

let listen = '127.0.0.1:0';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen' || args[i] === '-l') listen = args[++i];
  else { console.error('usage: node uws_rooms.mjs [--listen ADDR]'); process.exit(2); }
}
const cut = listen.lastIndexOf(':');
const host = listen.slice(0, cut);
const port = Number(listen.slice(cut + 1));

const ROOMS = '/rooms/';
const app = uws.App().ws('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 64 << 20,
  // Bytes a subscriber may have unsent before uWS drops what is published to it.
  maxBackpressure: 1 << 30,
  closeOnBackpressureLimit: false,
  upgrade: (res, req, context) => {
    const url = req.getUrl();
    res.upgrade(
      { room: url.startsWith(ROOMS) ? url.slice(ROOMS.length) : '' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => { ws.subscribe(ws.getUserData().room); },
  message: (ws, message, isBinary) => { app.publish(ws.getUserData().room, message, isBinary); },
});
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`cannot listen on ${listen}`);
    process.exit(1);
  }
  process.stdout.write(`ws://${host}:${uws.us_socket_local_port(token)}/\n`);
});
