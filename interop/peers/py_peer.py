#!/usr/bin/env python3
"""Interop peer for tether's integration tests, built on Python `websockets`.

Usage:
    py_peer.py server [--lifetime SECS] [--exit-on-stdin-eof] [--tls-cert FILE --tls-key FILE]
    py_peer.py client URL [--only NAME[,NAME...]] [--ca FILE]
    py_peer.py member URL

See interop/peers/README.md for the contract (shared with node_peer.js).
Dependencies are installed by scripts/install-peers.sh; run this file with
the venv interpreter it prints ($TETHER_CACHE/peers/venv/bin/python).
"""

import asyncio
import os
import random
import signal
import ssl
import sys
import threading

# PEER_DEFLATE=1 turns permessage-deflate on in both modes (off by default).
COMPRESSION = "deflate" if os.environ.get("PEER_DEFLATE") == "1" else None

try:
    import websockets
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        f"py_peer: cannot import websockets ({exc}); run scripts/install-peers.sh "
        "and use $TETHER_CACHE/peers/venv/bin/python\n"
    )
    sys.exit(3)

PROG = "py_peer"
MAX_SIZE = 64 * 1024 * 1024
# Hang guards, not pacing: generous, since a loaded 2-core CI machine moves
# the 16 MiB compressed both ways (the `large` check) through a debug build.
STEP_TIMEOUT = 30.0
OVERALL_TIMEOUT = 120.0
DEFAULT_LIFETIME = 600.0
SEED = 0x7E7E4E52

CHECKS = [
    "text",
    "binary",
    "empty_text",
    "empty_binary",
    "large",
    "fragmented",
    "utf8",
    "ping",
    "close",
]
# Checks run only when named with --only.
OPT_IN = ["quiet"]

USAGE = f"""usage:
  {PROG} server [--lifetime SECS] [--exit-on-stdin-eof] [--tls-cert FILE --tls-key FILE]
  {PROG} client URL [--only NAME[,NAME...]] [--ca FILE]
  {PROG} member URL
checks: {",".join(CHECKS)} (and, with --only: {",".join(OPT_IN)})
"""


def out(line):
    """One line on stdout, flushed at once (the parent reads it line by line)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(msg):
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.stderr.flush()


def usage_error(msg):
    err(msg)
    sys.stderr.write(USAGE)
    sys.exit(2)


def split_fragments(text, n):
    """Split TEXT into N pieces by code point (some may be empty if N > len)."""
    n = max(1, n)
    chars = list(text)
    q, r = divmod(len(chars), n)
    pieces, pos = [], 0
    for i in range(n):
        size = q + (1 if i < r else 0)
        pieces.append("".join(chars[pos : pos + size]))
        pos += size
    return pieces


async def send_fragmented_text(ws, pieces):
    """Send PIECES as one text message of exactly len(PIECES) frames.

    websockets' public API (ws.send(iterable)) always appends an extra empty
    final continuation frame, i.e. N pieces become N+1 frames on the wire.
    To put exactly N frames on the wire this uses the connection's
    send_context()/protocol (undocumented but stable in websockets 13-16),
    falling back to the public API if they are missing.
    """
    if not (hasattr(ws, "send_context") and hasattr(ws, "protocol")):
        await ws.send(iter(pieces))
        return
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        async with ws.send_context():
            if i == 0:
                ws.protocol.send_text(piece.encode("utf-8"), fin=(i == last))
            else:
                ws.protocol.send_continuation(piece.encode("utf-8"), fin=(i == last))


def describe(data):
    kind = "text" if isinstance(data, str) else "binary"
    if len(data) > 40:
        return f"{kind} of length {len(data)}"
    return f"{kind} {data!r}"


def describe_closed(exc):
    rcvd = exc.rcvd
    if rcvd is None:
        return "connection closed without a close frame (1006)"
    return f"connection closed by peer: code {rcvd.code} reason {rcvd.reason!r}"


# --------------------------------------------------------------------------
# server
# --------------------------------------------------------------------------


async def wait_transport_drained(transport, limit=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while transport.get_write_buffer_size() > 0 and loop.time() < deadline:
        await asyncio.sleep(0.005)


async def handle_command(ws, msg):
    """Run a text command. Returns True if the message was a command."""
    if msg.startswith("close:"):
        parts = msg.split(":", 2)
        code_s = parts[1]
        reason = parts[2] if len(parts) > 2 else ""
        try:
            code = int(code_s)
            await ws.close(code, reason)
        except (ValueError, websockets.exceptions.ProtocolError) as exc:
            # websockets refuses codes it may not send (1005, 1006, 999, ...).
            err(f"cannot close with {code_s!r}/{reason!r}: {exc}; closing with 1011")
            await ws.close(1011, "invalid close code requested")
        return True

    if msg == "abort":
        transport = ws.transport
        await wait_transport_drained(transport)
        # FIN+RSV=0, opcode binary; unmasked; 16-bit length 1000; only 10 bytes.
        transport.write(bytes([0x82, 0x7E, 0x03, 0xE8]) + bytes(range(10)))
        await wait_transport_drained(transport)
        transport.abort()
        return True

    if msg.startswith("fragment:"):
        parts = msg.split(":", 2)
        try:
            n = int(parts[1])
        except ValueError:
            n = 1
        text = parts[2] if len(parts) > 2 else ""
        await send_fragmented_text(ws, split_fragments(text, n))
        return True

    if msg.startswith("ping:"):
        payload = msg[len("ping:"):]
        try:
            waiter = await ws.ping(payload.encode("utf-8"))
            await asyncio.wait_for(waiter, STEP_TIMEOUT)
        except asyncio.TimeoutError:
            err(f"no pong for ping {payload!r} within {STEP_TIMEOUT:g}s")
            await ws.send(f"error:no pong for {payload}")
            return True
        await ws.send(f"pong:{payload}")
        return True

    return False


async def handler(ws):
    try:
        async for msg in ws:
            if isinstance(msg, str) and await handle_command(ws, msg):
                continue
            await ws.send(msg)
    except ConnectionClosed:
        pass
    except Exception as exc:  # keep serving other connections
        err(f"connection handler error: {exc!r}")
    finally:
        try:
            await asyncio.wait_for(ws.wait_closed(), STEP_TIMEOUT + 2)
        except asyncio.TimeoutError:
            err("timed out waiting for the connection to close")
        rcvd = ws.protocol.close_rcvd  # the close frame received from the client, if any
        if rcvd is None:
            out("closed 1006 ")
        else:
            out(f"closed {rcvd.code} {rcvd.reason}")


def server_tls(cert, key):
    """A TLS context serving CERT (PEM chain) with KEY, announcing ALPN http/1.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_tls(ca):
    """A verifying TLS context that trusts only the CA certificates in CA (PEM)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def run_server(lifetime, exit_on_stdin_eof, tls=None):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop(why):
        if not stop.done():
            if why:
                err(why)
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, None)
    if lifetime > 0:
        loop.call_later(lifetime, request_stop, f"lifetime of {lifetime:g}s reached, exiting")
    if exit_on_stdin_eof:

        def watch_stdin():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            except Exception:
                pass
            loop.call_soon_threadsafe(request_stop, "stdin closed, exiting")

        threading.Thread(target=watch_stdin, daemon=True).start()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression=COMPRESSION,
        max_size=MAX_SIZE,
        ping_interval=None,
        close_timeout=STEP_TIMEOUT,
        ssl=tls,
    ) as server:
        port = next(s.getsockname()[1] for s in server.sockets)
        scheme = "wss" if tls else "ws"
        out(f"{scheme}://127.0.0.1:{port}")
        await stop
        # Like the Node peer: drop open connections and exit at once, without
        # closing handshakes (which could take up to close_timeout each).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# --------------------------------------------------------------------------
# client
# --------------------------------------------------------------------------


class CheckFailed(Exception):
    pass


async def expect(ws, want):
    got = await ws.recv()
    if type(got) is not type(want) or got != want:
        raise CheckFailed(f"expected {describe(want)}, got {describe(got)}")


async def check_text(ws):
    await ws.send("Hello!")
    await expect(ws, "Hello!")


async def check_binary(ws):
    blob = random.Random(SEED).randbytes(300 * 1024)
    await ws.send(blob)
    await expect(ws, blob)


async def check_empty_text(ws):
    await ws.send("")
    await expect(ws, "")


async def check_empty_binary(ws):
    await ws.send(b"")
    await expect(ws, b"")


async def check_large(ws):
    blob = random.Random(SEED + 1).randbytes(16 * 1024 * 1024)
    await ws.send(blob)
    await expect(ws, blob)


async def check_fragmented(ws):
    frags = [f"frag-{i}" for i in range(5)]
    await send_fragmented_text(ws, frags)  # one text message in exactly 5 frames
    await expect(ws, "".join(frags))


async def check_utf8(ws):
    s = "héllo wörld ✓ 🚀"
    await ws.send(s)
    await expect(ws, s)


async def check_ping(ws):
    waiter = await ws.ping(b"p1")
    await waiter  # resolves when the pong with payload p1 arrives


async def check_close(ws):
    await ws.close(4001, "bye-from-peer")
    rcvd = ws.protocol.close_rcvd  # close frame the server sent back
    if rcvd is None:
        out("closed 1006 ")
        raise CheckFailed("server sent no close frame")
    out(f"closed {rcvd.code} {rcvd.reason}")
    if (rcvd.code, rcvd.reason) != (4001, "bye-from-peer"):
        raise CheckFailed(f"expected close 4001 'bye-from-peer', got {rcvd.code} {rcvd.reason!r}")


async def check_quiet(ws):
    # Opt-in (`--only quiet`): the same compressible text before and after a
    # second of silence, in which a server pinging often enough drops its
    # compressor; a compressed echo after that must still inflate here.
    text = "".join(f'{{"user":"alice","text":"hello {i}","seq":{i}}}' for i in range(60))
    for _ in range(2):
        await ws.send(text)
        await expect(ws, text)
        await asyncio.sleep(1.0)


CHECK_FUNCS = {name: globals()[f"check_{name}"] for name in CHECKS + OPT_IN}


async def open_client(url, tls=None):
    return await connect(
        url,
        ssl=tls,
        compression=COMPRESSION,
        max_size=MAX_SIZE,
        ping_interval=None,
        proxy=None,
        open_timeout=STEP_TIMEOUT,
        close_timeout=STEP_TIMEOUT,
    )


async def run_checks(url, names, results, tls):
    ws = None
    for name in names:
        if ws is None:
            try:
                ws = await open_client(url, tls)
            except Exception as exc:
                detail = f"cannot connect to {url}: {exc!r}"
                for rest in names[names.index(name):]:
                    results[rest] = False
                    out(f"FAIL {rest}: {detail}")
                return
        try:
            await asyncio.wait_for(CHECK_FUNCS[name](ws), STEP_TIMEOUT)
            results[name] = True
            out(f"ok {name}")
        except Exception as exc:
            if isinstance(exc, asyncio.TimeoutError):
                detail = f"timed out after {STEP_TIMEOUT:g}s"
            elif isinstance(exc, ConnectionClosed):
                detail = describe_closed(exc)
            elif isinstance(exc, CheckFailed):
                detail = str(exc)
            else:
                detail = repr(exc)
            results[name] = False
            out(f"FAIL {name}: {detail}")
            # Start the next check on a fresh connection: this one may hold stray data.
            ws.transport.abort()
            ws = None
        if name == "close":
            ws = None
    if ws is not None:
        try:
            await asyncio.wait_for(ws.close(), STEP_TIMEOUT)
        except Exception:
            ws.transport.abort()


async def run_client(url, names, tls=None):
    results = {}
    try:
        await asyncio.wait_for(run_checks(url, names, results, tls), OVERALL_TIMEOUT)
    except asyncio.TimeoutError:
        for name in names:
            if name not in results:
                results[name] = False
                out(f"FAIL {name}: overall timeout of {OVERALL_TIMEOUT:g}s reached")
    failed = [n for n in names if not results.get(n)]
    if failed:
        err(f"{len(failed)} of {len(names)} checks failed: {','.join(failed)}")
        return 1
    err(f"all {len(names)} checks passed")
    return 0

# --------------------------------------------------------------------------
# member: a room member of `tether hub`, driven line by line
# --------------------------------------------------------------------------


def describe_message(data):
    if isinstance(data, str):
        return f"text {data}"
    return f"binary {data.hex()}"


async def run_member(url):
    ws = await open_client(url)
    out("open")
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()

    def read_stdin():
        for raw in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, raw.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()

    async def send_lines():
        while (command := await lines.get()) is not None:
            if command.startswith("text:"):
                await ws.send(command[len("text:"):])
            elif command.startswith("binary:"):
                await ws.send(bytes.fromhex(command[len("binary:"):]))
            elif command == "close":
                await ws.close(1000, "bye")
                return
            else:
                err(f"unknown member command {command!r}")
        await ws.close(1000, "bye")

    sender = asyncio.create_task(send_lines())
    try:
        async for data in ws:
            out(describe_message(data))
    except ConnectionClosed:
        pass
    sender.cancel()
    out(f"closed {ws.close_code} {ws.close_reason or ''}")
    return 0


# --------------------------------------------------------------------------


def main(argv):
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
    if not argv:
        usage_error("missing mode")
    mode, args = argv[0], argv[1:]
    if mode == "server":
        lifetime = DEFAULT_LIFETIME
        stdin_eof = False
        cert = key = None
        i = 0
        while i < len(args):
            if args[i] == "--lifetime" and i + 1 < len(args):
                try:
                    lifetime = float(args[i + 1])
                except ValueError:
                    usage_error(f"bad --lifetime {args[i + 1]!r}")
                i += 2
            elif args[i] == "--exit-on-stdin-eof":
                stdin_eof = True
                i += 1
            elif args[i] == "--tls-cert" and i + 1 < len(args):
                cert = args[i + 1]
                i += 2
            elif args[i] == "--tls-key" and i + 1 < len(args):
                key = args[i + 1]
                i += 2
            else:
                usage_error(f"unexpected argument {args[i]!r}")
        if (cert is None) != (key is None):
            usage_error("--tls-cert and --tls-key go together")
        tls = server_tls(cert, key) if cert else None
        return asyncio.run(run_server(lifetime, stdin_eof, tls))
    if mode == "client":
        if not args or args[0].startswith("--"):
            usage_error("client mode needs a URL")
        url, rest = args[0], args[1:]
        names = list(CHECKS)
        tls = None
        i = 0
        while i < len(rest):
            if rest[i] == "--only" and i + 1 < len(rest):
                names = [n for n in rest[i + 1].split(",") if n]
                unknown = [n for n in names if n not in CHECK_FUNCS]
                if unknown or not names:
                    usage_error(f"unknown check(s) {unknown!r}")
                i += 2
            elif rest[i] == "--ca" and i + 1 < len(rest):
                tls = client_tls(rest[i + 1])
                i += 2
            else:
                usage_error(f"unexpected arguments {rest[i:]!r}")
        # Last-resort guard: the process dies even if the event loop is stuck.
        signal.alarm(int(OVERALL_TIMEOUT) + 10)
        return asyncio.run(run_client(url, names, tls))
    if mode == "member":
        if len(args) != 1 or args[0].startswith("--"):
            usage_error("member mode needs a URL")
        return asyncio.run(run_member(args[0]))
    usage_error(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
