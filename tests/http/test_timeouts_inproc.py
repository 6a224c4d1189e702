"""Timeouts, speed limits and shutdown of the in-process service, in virtual
time: each happens at the moment the configuration says, to the millisecond,
whatever the machine's load (see tests/inproc.py)."""

from __future__ import annotations

import asyncio

from config import Config
from tests.inproc import App, run, settle


def test_a_slow_request_head_gets_408_at_the_header_timeout() -> None:
    async def main() -> None:
        app = App(Config(header_timeout=10))
        pipe = app.connect()
        began = asyncio.get_running_loop().time()
        pipe.send(b"GET /healthz HTTP/1.1\r\n")
        await settle(9.9)
        pipe.send(b"Host: h\r\n")  # progress does not extend the head's deadline
        await settle(0.05)
        assert not pipe.received
        await settle(0.1)
        [reply] = pipe.replies()
        assert reply.status == 408 and pipe.eof_sent
        assert asyncio.get_running_loop().time() - began < 10.2

    run(main)


def test_an_idle_keep_alive_connection_closes_silently_at_the_keepalive_timeout() -> None:
    async def main() -> None:
        app = App(Config(keepalive_timeout=15, header_timeout=10))
        pipe = app.connect()
        pipe.send(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle(14.9)
        assert [r.status for r in pipe.replies()] == [200] and not pipe.closing
        await settle(0.2)
        assert pipe.lost and not pipe.received  # closed, and nothing was said

    run(main)


def test_an_upload_that_stops_sending_gets_408_after_the_body_timeout_and_stores_nothing() -> None:
    async def main() -> None:
        app = App(Config(body_timeout=60))
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345")
        await settle(59)
        pipe.send(b"678")  # progress re-arms the stall timeout
        await settle(59)
        assert not pipe.received
        await settle(2)
        [reply] = pipe.replies()
        assert reply.status == 408 and reply.json()["message"] == "request body timeout"
        assert not app.store.blobs and app.store.aborted == 1

    run(main)


def test_upload_speed_limit_in_virtual_time() -> None:
    async def main() -> None:
        # 100,000 B at 10,000 B/s with a 64 KiB burst: (100,000 - 65,536) / 10,000 s.
        app = App(Config(upload_rate=10_000))
        pipe = app.connect()
        loop = asyncio.get_running_loop()
        began = loop.time()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000)
        while not pipe.received:
            await settle(0.01)
        elapsed = loop.time() - began
        assert [r.status for r in pipe.replies()] == [201]
        assert abs(elapsed - 3.4464) < 0.02, elapsed

    run(main)


def test_download_speed_limit_in_virtual_time() -> None:
    async def main() -> None:
        app = App(Config(download_rate=20_000))
        metadata = {"name": "y", "content_type": "application/octet-stream", "sha256": "0" * 64,
                    "created": "2026-01-01T00:00:00Z"}
        await app.put("id-7", b"y" * 200_000, metadata)
        pipe = app.connect()
        loop = asyncio.get_running_loop()
        began = loop.time()
        pipe.send(b"GET /download/id-7 HTTP/1.1\r\nHost: h\r\n\r\n")
        while True:
            await settle(0.01)
            replies = pipe.replies()
            if replies:
                break
        elapsed = loop.time() - began
        assert replies[0].body == b"y" * 200_000
        # (200,000 - 65,536) / 20,000 = 6.72 s
        assert abs(elapsed - 6.7232) < 0.02, elapsed

    run(main)


def test_shutdown_closes_idle_connections_and_lets_a_busy_one_finish() -> None:
    async def main() -> None:
        app = App(Config(shutdown_timeout=30))
        idle = app.connect()
        busy = app.connect()
        busy.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
        await settle()
        stopping = asyncio.ensure_future(app.server.shutdown())
        await settle(1)
        assert idle.lost and not busy.lost
        busy.send(b"cd")
        await settle()
        [created] = busy.replies()
        assert created.status == 201 and created.headers["connection"] == "close"
        await asyncio.wait_for(stopping, 5)
        assert app.store.blobs["id-1"][0] == b"abcd"

    run(main)


def test_shutdown_timeout_aborts_what_is_left_and_stores_nothing() -> None:
    async def main() -> None:
        app = App(Config(shutdown_timeout=30, body_timeout=600))
        busy = app.connect()
        busy.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
        await settle()
        loop = asyncio.get_running_loop()
        began = loop.time()
        await app.server.shutdown()
        assert 30 <= loop.time() - began < 31
        assert busy.lost and not app.store.blobs and app.store.open_writers == 0

    run(main)
