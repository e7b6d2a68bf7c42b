"""Python `websockets` echo server on uvloop, for bench/compare.sh.

Prints its URL as the first stdout line, as `tether echo` does.
    <venv>/bin/python py_websockets_echo.py [--listen 127.0.0.1:0] [--rooms]

With --rooms it is a room server for the fan-out rows instead: a WebSocket to
/rooms/NAME joins room NAME, and every message a member sends goes to every
member of the room, the sender included, with `websockets.broadcast` (which
skips a member whose buffer is full rather than wait: the generator counts
those skips as losses).
"""

import argparse
import asyncio
import sys

import uvloop
from websockets.asyncio.server import broadcast, serve

ROOMS = {}


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def member(ws):
    path = ws.request.path
    room = ROOMS.setdefault(path[len("/rooms/"):] if path.startswith("/rooms/") else "", set())
    room.add(ws)
    try:
        async for message in ws:
            broadcast(room, message)
    finally:
        room.discard(ws)


async def main(host, port, handler):
    # permessage-deflate with the library's defaults (it only applies when the
    # client offers it, which the generator does for the compressed workloads
    # alone); messages up to 64 MiB like the other servers (the default is 1 MiB).
    async with serve(handler, host, port, compression="deflate", max_size=64 << 20, max_queue=None) as server:
        h, p = server.sockets[0].getsockname()[:2]
        print(f"ws://{h}:{p}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", "-l", default="127.0.0.1:0")
    parser.add_argument("--rooms", action="store_true", help="a room server (the fan-out rows)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    try:
        uvloop.run(main(host, int(port), member if args.rooms else echo))
    except KeyboardInterrupt:
        sys.exit(0)
