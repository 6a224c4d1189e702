"""A ceiling, not a peer: a bare stdlib asyncio Protocol that answers every
request with the same canned JSON, keep-alive, without parsing anything but
the blank line ending each request head. It shows how fast any pure-asyncio
server could answer ``/check`` on this machine; the service is not expected
to reach it.

    python3 -m bench.peers.bare_asyncio --port 8004
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

BODY = b'{"status": 200, "file": "x", "message": "is ready to download"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class CannedResponder(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        data = self._tail + data
        count = data.count(b"\r\n\r\n")
        self._tail = data[data.rfind(b"\r\n\r\n") + 4:] if count else data
        if count and self._transport is not None:
            self._transport.write(RESPONSE * count)


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(CannedResponder, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="canned-response asyncio ceiling")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args(argv)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
