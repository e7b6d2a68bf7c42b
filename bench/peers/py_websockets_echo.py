"""Python `websockets` echo server on uvloop, for bench/compare.sh.

Prints its URL as the first stdout line, as `tether echo` does.
    <venv>/bin/python py_websockets_echo.py [--listen 127.0.0.1:0]
"""

import argparse
import asyncio
import sys

import uvloop
from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    # permessage-deflate with the library's defaults (it only applies when the
    # client offers it, which the generator does for the compressed workloads
    # alone); messages up to 64 MiB like the other servers (the default is 1 MiB).
    async with serve(echo, host, port, compression="deflate", max_size=64 << 20, max_queue=None) as server:
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
