"""A deliberately wrong WebSocket echo server, for scripts/bench-trust-test.sh.

It answers the handshake and echoes every data frame with the right opcode
and length but one wrong byte (the first payload byte inverted), so only a
generator that compares the bytes notices: bench/compare.sh must score it 0.
Python standard library only. Prints its URL as the first stdout line, as
`tether echo` does.
    python3 wrong_echo.py [--listen 127.0.0.1:0]
"""

import argparse
import asyncio
import base64
import hashlib
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def handshake(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    key = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytearray(await reader.readexactly(length))
    for i in range(length):
        payload[i] ^= key[i % 4]
    return b0, payload


def frame(b0, payload):
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 1 << 16:
        head = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 127]) + struct.pack(">Q", n)
    return head + bytes(payload)


async def serve(reader, writer):
    try:
        await handshake(reader, writer)
        while True:
            b0, payload = await read_frame(reader)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                writer.write(frame(0x88, payload[:2]))
                break
            if opcode == 0x9:
                writer.write(frame(0x8A, payload))
            elif opcode in (0x0, 0x1, 0x2):
                if payload:
                    payload[0] ^= 0xFF  # the one wrong byte
                writer.write(frame(b0, payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, StopIteration):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:0")
    host, port = p.parse_args().listen.rsplit(":", 1)
    server = await asyncio.start_server(serve, host, int(port))
    addr = server.sockets[0].getsockname()
    print(f"ws://{addr[0]}:{addr[1]}/", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
