"""Python `websockets` room server on uvloop, for bench/compare.sh's fan-out rows.

A WebSocket to /rooms/NAME joins room NAME; every message a member sends goes
to every member of the room, the sender included, with `websockets.broadcast`
(which skips a member whose buffer is full rather than wait: the generator
counts those skips as losses). Prints its URL as the first stdout line.
    <venv>/bin/python py_websockets_rooms.py [--listen 127.0.0.1:0]
"""

import argparse
import asyncio
import sys

import uvloop
from websockets.asyncio.server import broadcast, serve

ROOMS = {}


async def member(ws):
    path = ws.request.path
    name = path[len("/rooms/"):] if path.startswith("/rooms/") else ""
    room = ROOMS.setdefault(name, set())
    room.add(ws)
    try:
        async for message in ws:
            broadcast(room, message)
    finally:
        room.discard(ws)


async def main(host, port):
    async with serve(member, host, port, max_size=64 << 20, max_queue=None) as server:
        h, p = server.sockets[0].getsockname()[:2]
        print(f"ws://{h}:{p}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", "-l", default="127.0.0.1:0")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    try:
        uvloop.run(main(host, int(port)))
    except KeyboardInterrupt:
        sys.exit(0)
