#!/usr/bin/env node
// Interop peer for tether's integration tests, built on Node `ws`.
//
// Usage:
//   node_peer.js server [--lifetime SECS] [--exit-on-stdin-eof]
//   node_peer.js client URL [--only NAME[,NAME...]]
//   node_peer.js member URL
//
// See interop/peers/README.md for the contract (shared with py_peer.py).
// Dependencies are installed by scripts/install-peers.sh; run with
// NODE_PATH=$TETHER_CACHE/peers/node/node_modules.
'use strict';

const PROG = 'node_peer';
let WebSocket, WebSocketServer;
try {
  ({ WebSocket, WebSocketServer } = require('ws'));
} catch (e) {
  process.stderr.write(
    `${PROG}: cannot load 'ws' (${e.message}); run scripts/install-peers.sh ` +
      'and set NODE_PATH=$TETHER_CACHE/peers/node/node_modules\n'
  );
  process.exit(3);
}

const MAX_SIZE = 64 * 1024 * 1024;
// Hang guards, not pacing: generous, since a loaded 2-core CI machine moves
// the 16 MiB compressed both ways (the `large` check) through a debug build.
const STEP_TIMEOUT_MS = 30000;
const OVERALL_TIMEOUT_MS = 120000;
const DEFAULT_LIFETIME_S = 600;
const SEED = 0x7e7e4e52;

const CHECKS = [
  'text',
  'binary',
  'empty_text',
  'empty_binary',
  'large',
  'fragmented',
  'utf8',
  'ping',
  'close',
];
// Checks run only when named with --only.
const OPT_IN = ['quiet'];

const USAGE = `usage:
  ${PROG} server [--lifetime SECS] [--exit-on-stdin-eof]
  ${PROG} client URL [--only NAME[,NAME...]]
  ${PROG} member URL
checks: ${CHECKS.join(',')} (and, with --only: ${OPT_IN.join(',')})
`;

// stdout lines are written synchronously-ish and in order; the parent reads them line by line.
function out(line) {
  process.stdout.write(line + '\n');
}

function err(msg) {
  process.stderr.write(`${PROG}: ${msg}\n`);
}

function usageError(msg) {
  err(msg);
  process.stderr.write(USAGE);
  process.exit(2);
}

// Exit only once stdout has been flushed (it is a pipe, hence asynchronous).
function exitAfterFlush(code) {
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
}

// Split TEXT into N pieces by code point (some may be empty if N > length).
function splitFragments(text, n) {
  n = Math.max(1, n | 0);
  const chars = Array.from(text);
  const q = Math.floor(chars.length / n);
  const r = chars.length % n;
  const pieces = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const size = q + (i < r ? 1 : 0);
    pieces.push(chars.slice(pos, pos + size).join(''));
    pos += size;
  }
  return pieces;
}

// Deterministic pseudo-random bytes (xorshift32).
function prngBytes(seed, len) {
  const buf = Buffer.allocUnsafe(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what === "step" ? `timed out after ${ms / 1000}s` : `${what}: timed out after ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// --------------------------------------------------------------------------
// server
// --------------------------------------------------------------------------

function waitPong(ws, payload, ms) {
  return new Promise((resolve, reject) => {
    const onPong = (data) => {
      if (data.toString('utf8') === payload) {
        cleanup();
        resolve();
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error('connection closed before pong'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no pong for ping ${JSON.stringify(payload)} within ${ms / 1000}s`));
    }, ms);
    function cleanup() {
      clearTimeout(timer);
      ws.off('pong', onPong);
      ws.off('close', onClose);
    }
    ws.on('pong', onPong);
    ws.on('close', onClose);
  });
}

function sendAsync(ws, data, opts) {
  return new Promise((resolve, reject) =>
    ws.send(data, opts, (e) => (e ? reject(e) : resolve()))
  );
}

async function handleMessage(ws, data, isBinary) {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (!isBinary) {
    const msg = data.toString('utf8');
    if (msg.startsWith('close:')) {
      const parts = msg.split(':');
      const codeS = parts[1];
      const reason = parts.slice(2).join(':');
      try {
        if (!/^[0-9]+$/.test(codeS)) throw new Error('not a number');
        ws.close(Number(codeS), reason);
      } catch (e) {
        // ws refuses codes it may not send (1005, 1006, 999, ...) and reasons > 123 bytes.
        err(`cannot close with ${JSON.stringify(codeS)}/${JSON.stringify(reason)}: ${e.message}; closing with 1011`);
        ws.close(1011, 'invalid close code requested');
      }
      return;
    }
    if (msg === 'abort') {
      const sock = ws._socket;
      // FIN+RSV=0, opcode binary; unmasked; 16-bit length 1000; only 10 bytes.
      const partial = Buffer.from([0x82, 0x7e, 0x03, 0xe8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      sock.write(partial, () => sock.destroy());
      return;
    }
    if (msg.startsWith('fragment:')) {
      const parts = msg.split(':');
      const n = /^[0-9]+$/.test(parts[1]) ? Number(parts[1]) : 1;
      const text = parts.slice(2).join(':');
      const pieces = splitFragments(text, n);
      for (let i = 0; i < pieces.length; i++) {
        await sendAsync(ws, pieces[i], { binary: false, fin: i === pieces.length - 1 });
      }
      return;
    }
    if (msg.startsWith('ping:')) {
      const payload = msg.slice('ping:'.length);
      const pong = waitPong(ws, payload, STEP_TIMEOUT_MS);
      ws.ping(Buffer.from(payload, 'utf8'));
      try {
        await pong;
      } catch (e) {
        err(e.message);
        if (ws.readyState === WebSocket.OPEN) ws.send(`error:no pong for ${payload}`);
        return;
      }
      if (ws.readyState === WebSocket.OPEN) await sendAsync(ws, `pong:${payload}`, { binary: false });
      return;
    }
  }
  await sendAsync(ws, data, { binary: isBinary });
}

// PEER_DEFLATE=1 turns permessage-deflate on in both modes (off by default);
// threshold 0 compresses even the smallest message.
const DEFLATE = process.env.PEER_DEFLATE === '1' ? { threshold: 0 } : false;

function runServer(lifetime, exitOnStdinEof) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: DEFLATE,
    maxPayload: MAX_SIZE,
  });
  wss.on('error', (e) => {
    err(`server error: ${e.message}`);
    exitAfterFlush(1);
  });
  wss.on('listening', () => {
    out(`ws://127.0.0.1:${wss.address().port}`);
  });
  wss.on('connection', (ws) => {
    // Handle messages strictly in order, one at a time (like the Python peer).
    let chain = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      chain = chain
        .then(() => handleMessage(ws, data, isBinary))
        .catch((e) => err(`connection handler error: ${e.message}`));
    });
    ws.on('error', (e) => err(`connection error: ${e.message}`));
    // code/reason are those of the close frame received from the client
    // (1005 if it had no code, 1006 if no close frame arrived).
    ws.on('close', (code, reason) => out(`closed ${code} ${reason.toString('utf8')}`));
  });

  const stop = (why) => {
    if (why) err(why);
    exitAfterFlush(0);
  };
  process.on('SIGTERM', () => stop());
  process.on('SIGINT', () => stop());
  if (lifetime > 0) setTimeout(() => stop(`lifetime of ${lifetime}s reached, exiting`), lifetime * 1000).unref();
  if (exitOnStdinEof) {
    process.stdin.on('end', () => stop('stdin closed, exiting'));
    process.stdin.on('error', () => stop('stdin closed, exiting'));
    process.stdin.resume();
  }
}

// --------------------------------------------------------------------------
// client
// --------------------------------------------------------------------------

class CheckFailed extends Error {}

// A connection wrapper with a message queue and awaitable events.
class Conn {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = null; // {code, reason} once 'close' fired
    this.closeWaiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      for (const w of this.waiters.splice(0)) {
        w.reject(new CheckFailed(`connection closed by peer: code ${code} reason ${JSON.stringify(this.closed.reason)}`));
      }
      for (const w of this.closeWaiters.splice(0)) w(this.closed);
    });
    ws.on('error', (e) => {
      this.lastError = e;
    });
  }

  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: DEFLATE,
        maxPayload: MAX_SIZE,
        handshakeTimeout: STEP_TIMEOUT_MS,
      });
      const onError = (e) => reject(new Error(`cannot connect to ${url}: ${e.message}`));
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        resolve(new Conn(ws));
      });
    });
  }

  recv() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) {
      return Promise.reject(new CheckFailed(`connection closed by peer: code ${this.closed.code}`));
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(data, opts) {
    return sendAsync(this.ws, data, opts);
  }

  waitClosed() {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  abort() {
    this.ws.terminate();
  }
}

function describe(m) {
  const kind = m.isBinary ? 'binary' : 'text';
  if (m.data.length > 40) return `${kind} of length ${m.data.length}`;
  return m.isBinary
    ? `binary <${m.data.toString('hex')}>`
    : `text ${JSON.stringify(m.data.toString('utf8'))}`;
}

async function expect(c, want) {
  const got = await c.recv();
  const wantIsBinary = Buffer.isBuffer(want);
  const wantBuf = wantIsBinary ? want : Buffer.from(want, 'utf8');
  if (got.isBinary !== wantIsBinary || !got.data.equals(wantBuf)) {
    throw new CheckFailed(`expected ${describe({ data: wantBuf, isBinary: wantIsBinary })}, got ${describe(got)}`);
  }
}

const CHECK_FUNCS = {
  async text(c) {
    await c.send('Hello!', { binary: false });
    await expect(c, 'Hello!');
  },
  async binary(c) {
    const blob = prngBytes(SEED, 300 * 1024);
    await c.send(blob, { binary: true });
    await expect(c, blob);
  },
  async empty_text(c) {
    await c.send('', { binary: false });
    await expect(c, '');
  },
  async empty_binary(c) {
    await c.send(Buffer.alloc(0), { binary: true });
    await expect(c, Buffer.alloc(0));
  },
  async large(c) {
    const blob = prngBytes(SEED + 1, 16 * 1024 * 1024);
    await c.send(blob, { binary: true });
    await expect(c, blob);
  },
  async fragmented(c) {
    const frags = [0, 1, 2, 3, 4].map((i) => `frag-${i}`);
    for (let i = 0; i < frags.length; i++) {
      await c.send(frags[i], { binary: false, fin: i === frags.length - 1 });
    }
    await expect(c, frags.join(''));
  },
  async utf8(c) {
    const s = 'héllo wörld ✓ 🚀';
    await c.send(s, { binary: false });
    await expect(c, s);
  },
  async ping(c) {
    const pong = waitPong(c.ws, 'p1', STEP_TIMEOUT_MS + 1000);
    c.ws.ping(Buffer.from('p1'));
    try {
      await pong;
    } catch (e) {
      throw new CheckFailed(e.message);
    }
  },
  // Opt-in (`--only quiet`): the same compressible text before and after a
  // second of silence, in which a server pinging often enough drops its
  // compressor; a compressed echo after that must still inflate here.
  async quiet(c) {
    const text = Array.from({ length: 60 }, (_, i) => `{"user":"bob","text":"hello ${i}","seq":${i}}`).join('');
    for (let round = 0; round < 2; round++) {
      await c.send(text, { binary: false });
      await expect(c, text);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  },
  async close(c) {
    c.ws.close(4001, 'bye-from-peer');
    // 'close' reports the code/reason of the close frame the server sent.
    const { code, reason } = await c.waitClosed();
    out(`closed ${code} ${reason}`);
    if (code !== 4001 || reason !== 'bye-from-peer') {
      throw new CheckFailed(`expected close 4001 "bye-from-peer", got ${code} ${JSON.stringify(reason)}`);
    }
  },
};

async function runChecks(url, names, results) {
  let c = null;
  for (let idx = 0; idx < names.length; idx++) {
    const name = names[idx];
    if (c === null) {
      try {
        c = await withTimeout(Conn.open(url), STEP_TIMEOUT_MS + 1000, `connect to ${url}`);
      } catch (e) {
        for (const rest of names.slice(idx)) {
          results[rest] = false;
          out(`FAIL ${rest}: ${e.message}`);
        }
        return;
      }
    }
    try {
      await withTimeout(CHECK_FUNCS[name](c), STEP_TIMEOUT_MS, "step");
      results[name] = true;
      out(`ok ${name}`);
    } catch (e) {
      results[name] = false;
      out(`FAIL ${name}: ${e.message}`);
      // Start the next check on a fresh connection: this one may hold stray data.
      c.abort();
      c = null;
    }
    if (name === 'close') c = null;
  }
  if (c !== null) {
    c.ws.close(1000);
    await withTimeout(c.waitClosed(), STEP_TIMEOUT_MS, 'final close').catch(() => c.abort());
  }
}

async function runClient(url, names) {
  const results = {};
  try {
    await withTimeout(runChecks(url, names, results), OVERALL_TIMEOUT_MS, 'overall');
  } catch (e) {
    for (const name of names) {
      if (!(name in results)) {
        results[name] = false;
        out(`FAIL ${name}: overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s reached`);
      }
    }
  }
  const failed = names.filter((n) => !results[n]);
  if (failed.length) {
    err(`${failed.length} of ${names.length} checks failed: ${failed.join(',')}`);
    return 1;
  }
  err(`all ${names.length} checks passed`);
  return 0;
}

// --------------------------------------------------------------------------
// member: a room member of `tether hub`, driven line by line

function runMember(url) {
  const ws = new WebSocket(url, { perMessageDeflate: DEFLATE, maxPayload: MAX_SIZE });
  ws.on('open', () => {
    out('open');
    const readline = require('node:readline');
    const lines = readline.createInterface({ input: process.stdin });
    lines.on('line', (command) => {
      if (command.startsWith('text:')) ws.send(command.slice('text:'.length), { binary: false });
      else if (command.startsWith('binary:')) ws.send(Buffer.from(command.slice('binary:'.length), 'hex'));
      else if (command === 'close') ws.close(1000, 'bye');
      else err(`unknown member command ${JSON.stringify(command)}`);
    });
    lines.on('close', () => ws.close(1000, 'bye'));
  });
  ws.on('message', (data, isBinary) => {
    out(isBinary ? `binary ${Buffer.from(data).toString('hex')}` : `text ${data.toString('utf8')}`);
  });
  ws.on('error', (e) => err(`member: ${e.message}`));
  ws.on('close', (code, reason) => {
    out(`closed ${code} ${reason.toString('utf8')}`);
    exitAfterFlush(0);
  });
}

// --------------------------------------------------------------------------

function main(argv) {
  if (!argv.length) usageError('missing mode');
  const [mode, ...args] = argv;
  if (mode === 'server') {
    let lifetime = DEFAULT_LIFETIME_S;
    let stdinEof = false;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--lifetime' && i + 1 < args.length) {
        lifetime = Number(args[++i]);
        if (!Number.isFinite(lifetime)) usageError(`bad --lifetime ${JSON.stringify(args[i])}`);
      } else if (args[i] === '--exit-on-stdin-eof') {
        stdinEof = true;
      } else {
        usageError(`unexpected argument ${JSON.stringify(args[i])}`);
      }
    }
    runServer(lifetime, stdinEof);
    return;
  }
  if (mode === 'client') {
    if (!args.length || args[0].startsWith('--')) usageError('client mode needs a URL');
    const [url, ...rest] = args;
    let names = CHECKS.slice();
    if (rest.length) {
      if (rest.length !== 2 || rest[0] !== '--only') usageError(`unexpected arguments ${JSON.stringify(rest)}`);
      names = rest[1].split(',').filter((n) => n);
      const unknown = names.filter((n) => !(n in CHECK_FUNCS));
      if (unknown.length || !names.length) usageError(`unknown check(s) ${JSON.stringify(unknown)}`);
    }
    // Last-resort guard: exit even if something keeps the promise chain from settling.
    setTimeout(() => {
      out('FAIL overall: hard timeout');
      exitAfterFlush(1);
    }, OVERALL_TIMEOUT_MS + 10000).unref();
    runClient(url, names).then(
      (code) => exitAfterFlush(code),
      (e) => {
        err(`internal error: ${e.stack || e}`);
        exitAfterFlush(1);
      }
    );
    return;
  }
  if (mode === 'member') {
    if (args.length !== 1 || args[0].startsWith('--')) usageError('member mode needs a URL');
    runMember(args[0]);
    return;
  }
  usageError(`unknown mode ${JSON.stringify(mode)}`);
}

main(process.argv.slice(2));
