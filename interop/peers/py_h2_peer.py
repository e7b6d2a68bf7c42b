#!/usr/bin/env python3
"""WebSockets over HTTP/2 (RFC 8441) driven frame by frame with Python's `h2`.

Usage:
    py_h2_peer.py client URL [--ca FILE] [--page PATH]

URL is ws://HOST:PORT/PATH (cleartext HTTP/2 with prior knowledge) or
wss://HOST:PORT/PATH (TLS, ALPN h2; --ca names the CA to trust). The peer
checks that the server announces SETTINGS_ENABLE_CONNECT_PROTOCOL, opens
WebSockets as extended CONNECT streams (masking its frames, as RFC 8441
keeps RFC 6455's masking), echoes text, binary larger than the HTTP/2
windows, a ping and a close on two WebSockets multiplexed on one
connection, then sends malformed requests and expects their refusals.
With --page, a plain GET of PATH must answer 200 with a body.

It prints `ok NAME` for each check that passed (`settings`, `echo_text`,
`echo_binary`, `ping`, `multiplexed`, `close`, `no_protocol`,
`wrong_protocol`, `no_version`, `wrong_version`, `page`) and exits 0, or
prints `FAIL NAME: why` and exits 1. Installed by scripts/install-peers.sh;
run with the venv interpreter it prints.
"""

import os
import socket
import ssl
import struct
import sys
import urllib.parse

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(f"py_h2_peer: cannot import h2 ({exc}); run scripts/install-peers.sh\n")
    sys.exit(3)

PROG = "py_h2_peer"
TIMEOUT = 20.0


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Fail(Exception):
    pass


# --- WebSocket frames (RFC 6455 section 5.2) ---------------------------------

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode, payload, fin=True):
    """A client frame: always masked (RFC 6455 5.3; RFC 8441 keeps it)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, key)
    return bytes(head) + key + masked


def _mask_fast(payload, key):
    whole = int.from_bytes(key * ((len(payload) + 3) // 4), "big") >> (8 * ((-len(payload)) % 4))
    return (int.from_bytes(payload, "big") ^ whole).to_bytes(len(payload), "big")


def decode_frames_one(buf):
    """The first whole frame of `buf` as (fin, opcode, payload), and what
    follows it; (None, buf) while it is incomplete."""
    if len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        if b1 & 0x80:
            raise Fail("server frame is masked (RFC 6455 5.1 forbids it)")
        n, at = b1 & 0x7F, 2
        if n == 126 and len(buf) >= 4:
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127 and len(buf) >= 10:
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        elif n >= 126:
            return None, buf
        if len(buf) >= at + n:
            return (bool(b0 & 0x80), b0 & 0x0F, bytes(buf[at : at + n])), buf[at + n :]
    return None, buf


# --- One HTTP/2 connection -----------------------------------------------------


class Conn:
    def __init__(self, url, ca, validate=True):
        self.url = url
        host, port = url.hostname, url.port
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.secure = url.scheme == "wss"
        if self.secure:
            ctx = ssl.create_default_context(cafile=ca)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=host)
            if sock.selected_alpn_protocol() != "h2":
                raise Fail(f"ALPN gave {sock.selected_alpn_protocol()!r}, not h2")
        self.sock = sock
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=validate
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        # Room for a megabyte in flight before this side must acknowledge.
        self.h2.increment_flow_control_window(1 << 20)
        self.flush()
        self.remote_settings = None
        self.streams = {}  # stream id -> dict(status, headers, data, ended, reset)

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        """Reads once from the socket and handles the frames it brought."""
        data = self.sock.recv(65536)
        if not data:
            raise Fail("the server closed the connection")
        for event in self.h2.receive_data(data):
            s = self.streams.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.remote_settings = dict(self.h2.remote_settings)
            elif isinstance(event, h2.events.ResponseReceived):
                s["headers"] = dict(event.headers)
                s["status"] = int(s["headers"][":status"])
            elif isinstance(event, h2.events.DataReceived):
                s["data"] += event.data
                # Give the window back as we take the bytes.
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                s["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                s["reset"] = event.error_code
            elif isinstance(event, h2.events.ConnectionTerminated):
                raise Fail(f"GOAWAY {event.error_code}")
        self.flush()

    def until(self, what, why):
        while not what():
            try:
                self.pump()
            except socket.timeout:
                raise Fail(f"timed out waiting for {why}")

    def settings(self):
        self.until(lambda: self.remote_settings is not None, "the server's SETTINGS")
        return self.remote_settings

    def request(self, headers, end=False):
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = {"status": None, "headers": {}, "data": bytearray(), "ended": False, "reset": None}
        self.h2.send_headers(sid, headers, end_stream=end)
        self.flush()
        return sid

    def answer(self, sid):
        """The status (None if the stream was reset) and headers."""
        s = self.streams[sid]
        self.until(lambda: s["status"] is not None or s["reset"] is not None, f"an answer on stream {sid}")
        return s["status"], s["headers"]

    def connect_headers(self, path, protocol="websocket", version="13", extra=()):
        headers = [(":method", "CONNECT")]
        if protocol is not None:
            headers.append((":protocol", protocol))
        headers += [
            (":scheme", "https" if self.secure else "http"),
            (":path", path),
            (":authority", self.url.netloc),
        ]
        if version is not None:
            headers.append(("sec-websocket-version", version))
        return headers + list(extra)

    def send_ws(self, sid, opcode, payload):
        """Sends one masked frame, in DATA frames as the windows allow."""
        data = encode_frame(opcode, payload)
        while data:
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.pump()  # wait for WINDOW_UPDATE
                continue
            self.h2.send_data(sid, data[:window])
            data = data[window:]
            self.flush()

    def recv_ws(self, sid):
        """The next whole frame from the server on stream `sid`."""
        s = self.streams[sid]
        self.until(lambda: decode_frames_one(s["data"])[0] is not None or s["ended"] or s["reset"] is not None,
                   f"a frame on stream {sid}")
        frame, rest = decode_frames_one(s["data"])
        if frame is None:
            raise Fail(f"stream {sid} ended before a frame came")
        s["data"] = bytearray(rest)
        return frame



# --- The checks --------------------------------------------------------------


def expect(cond, name, why):
    if not cond:
        raise Fail(f"{name}: {why}")


def run(url, ca, page):
    conn = Conn(url, ca)
    settings = conn.settings()
    expect(settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1, "settings",
           f"no SETTINGS_ENABLE_CONNECT_PROTOCOL=1 in {settings}")
    out("ok settings")

    path = url.path or "/"
    first = conn.request(conn.connect_headers(path, extra=[("sec-websocket-protocol", "chat")]))
    status, headers = conn.answer(first)
    expect(status == 200, "echo_text", f"extended CONNECT answered {status} {headers}")
    expect("sec-websocket-accept" not in headers, "echo_text", "Sec-WebSocket-Accept on HTTP/2")
    conn.send_ws(first, OP_TEXT, "Hello over HTTP/2, frame by frame".encode())
    fin, op, payload = conn.recv_ws(first)
    expect((fin, op, payload) == (True, OP_TEXT, b"Hello over HTTP/2, frame by frame"), "echo_text",
           f"got {(fin, op, payload[:40])}")
    out("ok echo_text")

    # More than HTTP/2's default 64 KiB windows, both ways.
    blob = bytes((i * 7 + 3) % 251 for i in range(300_000))
    conn.send_ws(first, OP_BINARY, blob)
    fin, op, payload = conn.recv_ws(first)
    expect(op == OP_BINARY and payload == blob, "echo_binary", f"got opcode {op}, {len(payload)} bytes")
    out("ok echo_binary")

    conn.send_ws(first, OP_PING, b"are you there")
    fin, op, payload = conn.recv_ws(first)
    expect((op, payload) == (OP_PONG, b"are you there"), "ping", f"got {(op, payload)}")
    out("ok ping")

    # A second WebSocket on the same connection, interleaved with the first.
    second = conn.request(conn.connect_headers(path))
    status, _ = conn.answer(second)
    expect(status == 200, "multiplexed", f"second stream answered {status}")
    conn.send_ws(second, OP_TEXT, b"second")
    conn.send_ws(first, OP_TEXT, b"first")
    expect(conn.recv_ws(second)[2] == b"second", "multiplexed", "second stream's echo")
    expect(conn.recv_ws(first)[2] == b"first", "multiplexed", "first stream's echo")
    out("ok multiplexed")

    for sid in (first, second):
        conn.send_ws(sid, OP_CLOSE, struct.pack("!H", 1000) + b"h2 bye")
        fin, op, payload = conn.recv_ws(sid)
        expect(op == OP_CLOSE and payload[:2] == struct.pack("!H", 1000), "close", f"got {(op, payload)}")
        s = conn.streams[sid]
        conn.until(lambda: s["ended"] or s["reset"] is not None, "the server's END_STREAM")
        # After its END_STREAM a server may reset the rest of the stream
        # with NO_ERROR (RFC 9113 8.1), nothing else.
        expect(s["reset"] in (None, 0), "close", f"stream reset with error {s['reset']}")
        if s["reset"] is None:
            try:
                conn.h2.end_stream(sid)
                conn.flush()
            except h2.exceptions.StreamClosedError:
                pass  # the server reset it (NO_ERROR) after its END_STREAM
    out("ok close")

    # Malformed requests. A plain CONNECT (no :protocol, authority form) is
    # valid HTTP/2 but no WebSocket: 4xx. With :scheme and :path kept it is
    # malformed HTTP/2, which the server may refuse or reset (RFC 9113 8.1.1).
    loose = Conn(url, ca, validate=False)
    loose.settings()
    sid = loose.request([(":method", "CONNECT"), (":authority", url.netloc), ("sec-websocket-version", "13")])
    status, _ = loose.answer(sid)
    expect(status is not None and 400 <= status < 500, "no_protocol", f"plain CONNECT answered {status}")
    sid = loose.request(conn.connect_headers(path, protocol=None))
    status, _ = loose.answer(sid)
    reset = loose.streams[sid]["reset"]
    expect((status is not None and 400 <= status < 500) or reset == 1, "no_protocol",
           f"CONNECT with :path but no :protocol answered {status}, reset {reset}")
    out("ok no_protocol")

    sid = conn.request(conn.connect_headers(path, protocol="webtransport"))
    status, _ = conn.answer(sid)
    expect(status == 400, "wrong_protocol", f":protocol webtransport answered {status}")
    out("ok wrong_protocol")

    sid = conn.request(conn.connect_headers(path, version=None))
    status, _ = conn.answer(sid)
    expect(status == 400, "no_version", f"no Sec-WebSocket-Version answered {status}")
    out("ok no_version")

    sid = conn.request(conn.connect_headers(path, version="8"))
    status, headers = conn.answer(sid)
    expect(status == 426 and headers.get("sec-websocket-version") == "13", "wrong_version",
           f"version 8 answered {status} {headers}")
    out("ok wrong_version")

    if page is not None:
        sid = conn.request([(":method", "GET"), (":scheme", "https" if conn.secure else "http"),
                            (":path", page), (":authority", url.netloc)], end=True)
        status, _ = conn.answer(sid)
        s = conn.streams[sid]
        conn.until(lambda: s["ended"], "the page's end")
        expect(status == 200 and len(s["data"]) > 0, "page", f"GET {page} answered {status}, {len(s['data'])} bytes")
        out("ok page")


def main(argv):
    if len(argv) < 2 or argv[0] != "client":
        sys.stderr.write(__doc__)
        return 2
    url = urllib.parse.urlsplit(argv[1])
    ca = page = None
    rest = argv[2:]
    while rest:
        flag, value, rest = rest[0], rest[1] if len(rest) > 1 else None, rest[2:]
        if flag == "--ca":
            ca = value
        elif flag == "--page":
            page = value
        else:
            sys.stderr.write(f"{PROG}: unknown flag {flag}\n")
            return 2
    try:
        run(url, ca, page)
    except Fail as e:
        out(f"FAIL {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
