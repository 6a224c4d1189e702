"""Backpressure, disconnects, lingering and the connection cap, in-process
and in virtual time (see tests/inproc.py)."""

from __future__ import annotations

import asyncio

from config import Config
from ports.storage import BlobInfo
from tests.fakes import MemoryStore
from tests.inproc import App, Pipe, run, settle

METADATA = {"name": "y.bin", "content_type": "application/octet-stream", "sha256": "0" * 64,
            "created": "2026-01-01T00:00:00Z"}


def test_reading_pauses_while_the_parser_holds_too_much_and_resumes() -> None:
    async def main() -> None:
        # 10,000 B/s: the body arrives far faster than the upload may consume it.
        app = App(Config(upload_rate=10_000))
        pipe = app.connect()
        body = b"z" * 1_000_000
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body))
        for offset in range(0, len(body), 65536):
            pipe.send(body[offset:offset + 65536])
        await settle(0.1)
        assert not pipe.reading  # the server stopped reading: the client's bytes wait in "the network"
        assert pipe.unread
        while not pipe.received:
            await settle(1)
        assert [r.status for r in pipe.replies()] == [201]
        assert app.store.blobs["id-1"][0] == body

    run(main)


def test_a_download_waits_for_a_slow_reader_and_completes() -> None:
    async def main() -> None:
        app = App()
        await app.put("id-1", b"d" * 5_000_000, METADATA)
        pipe = app.connect()
        pipe.stop_reading()
        pipe.send(b"GET /download/id-1 HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle(30)  # well within the 60 s stall timeout
        assert pipe.writing_paused and len(pipe.backlog) <= 1_100_000  # one read's worth, not the file
        pipe.read_again()
        await settle()
        [reply] = pipe.replies()
        assert reply.body == b"d" * 5_000_000 and not pipe.closing

    run(main)


def test_a_download_nobody_reads_is_aborted_after_the_stall_timeout() -> None:
    async def main() -> None:
        app = App(Config(body_timeout=60))
        await app.put("id-1", b"d" * 500_000, METADATA)
        pipe = app.connect()
        pipe.stop_reading()
        pipe.send(b"GET /download/id-1 HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle(59)
        assert not pipe.aborted
        await settle(2)
        assert pipe.aborted

    run(main)


def test_a_client_gone_mid_upload_leaves_nothing() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"a" * 40)
        await settle()
        pipe.abort()  # the peer reset the connection
        await settle()
        assert not app.store.blobs and app.store.aborted == 1 and app.store.open_writers == 0
        assert app.server.connections == 0

    run(main)


def test_a_refused_upload_lingers_discarding_what_still_comes_then_closes() -> None:
    async def main() -> None:
        app = App(Config(max_upload_size=10))
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100)
        await settle()
        [reply] = pipe.replies()
        assert reply.status == 413 and pipe.eof_sent and not pipe.lost
        for _ in range(5):  # the client goes on sending for a while: still not cut off
            pipe.send(b"a" * 100)
            await settle(1.5)
            assert not pipe.lost
        await settle(2.1)  # then quiet for more than the linger's idle time
        assert pipe.lost

    run(main)


def test_above_max_connections_a_new_client_gets_503_with_retry_after() -> None:
    async def main() -> None:
        app = App(Config(max_connections=2))
        held = [app.connect(), app.connect()]
        refused = app.connect()
        await settle()
        [reply] = refused.replies()
        assert reply.status == 503 and reply.headers["retry-after"] == "1"
        assert refused.eof_sent and app.server.refused == 1  # it lingers, like every refusal
        await settle(2.1)
        assert refused.lost
        held[0].abort()
        await settle()
        accepted = app.connect()
        accepted.send(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        assert [r.status for r in accepted.replies()] == [200]

    run(main)


class BrokenStore(MemoryStore):
    async def stat(self, blob_id: str) -> BlobInfo:
        raise OSError("disk on fire")


def test_an_unexpected_error_is_a_500_and_closes_the_connection() -> None:
    async def main() -> None:
        app = App(store=BrokenStore())
        await app.put("id-1", b"x", METADATA)
        pipe = app.connect()
        pipe.send(b"GET /check/id-1 HTTP/1.1\r\nHost: h\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        [failed] = pipe.replies()
        assert (failed.status, failed.json()["message"]) == (500, "internal server error")
        assert failed.headers["connection"] == "close"

    run(main)


def test_a_half_closed_client_still_gets_its_answers() -> None:
    async def main() -> None:
        app = App()
        pipe: Pipe = app.connect()
        pipe.send(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        pipe.send_eof()
        await settle()
        assert [r.status for r in pipe.replies()] == [200, 200]
        await settle()
        assert pipe.closing
        assert asyncio.get_running_loop().time() < 1001  # closed at once, not at a timeout

    run(main)
