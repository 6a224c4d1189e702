"""Closing safely. ``Linger``: after a refusal the write side is shut, input
is discarded, and the connection is aborted once the peer is quiet for
``LINGER_IDLE`` or after ``LINGER_MAX`` in all (here shrunk to
milliseconds). ``FlushWatch``: a connection closed with answers still
queued is aborted once they stop moving, since ``close`` would wait for a
peer that does not read for ever."""

from __future__ import annotations

import asyncio

import pytest

from adapters.http import linger
from adapters.http.connection import HttpConnection, TransportConfig
from adapters.http.linger import FlushWatch, Linger
from adapters.http.server import HttpServer


class FakeTransport(asyncio.Transport):
    def __init__(self, queued: int = 0) -> None:
        super().__init__()
        self.eof_written = False
        self.closed = False
        self.aborted_at: float | None = None
        self.queued = queued  # bytes in the write buffer; a test drains it by hand

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.aborted_at = asyncio.get_running_loop().time()

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted_at is not None

    def get_write_buffer_size(self) -> int:
        return self.queued


@pytest.fixture(autouse=True)
def short_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linger, "LINGER_IDLE", 0.05)
    monkeypatch.setattr(linger, "LINGER_MAX", 0.3)


def test_a_quiet_peer_is_cut_after_the_idle_time() -> None:
    async def scenario() -> None:
        transport = FakeTransport()
        Linger(asyncio.get_running_loop(), transport)
        assert transport.eof_written and transport.aborted_at is None
        await asyncio.sleep(0.2)
        assert transport.aborted_at is not None

    asyncio.run(scenario())


def test_data_postpones_the_cut_but_never_past_the_maximum() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport = FakeTransport()
        began = loop.time()
        linger = Linger(loop, transport)
        while transport.aborted_at is None and loop.time() - began < 2:
            linger.data_received(b"x" * 1000)  # a peer that never stops sending
            await asyncio.sleep(0.01)
        assert transport.aborted_at is not None, "a peer that keeps sending is never cut"
        assert 0.25 <= transport.aborted_at - began < 1.0
        assert linger.discarded >= 1000

    asyncio.run(scenario())


def test_cancel_stops_the_timer() -> None:
    async def scenario() -> None:
        transport = FakeTransport()
        Linger(asyncio.get_running_loop(), transport).cancel()
        await asyncio.sleep(0.15)
        assert transport.aborted_at is None

    asyncio.run(scenario())


async def no_handler(exchange: object) -> None:
    raise AssertionError("not called")


def test_a_connection_closed_with_answers_queued_is_aborted_when_they_stop_moving() -> None:
    """``HttpConnection.close`` with 50 KB still queued (below the high-water
    mark, so nothing waited for it) and a peer that reads nothing: aborted
    between one and two ``body_timeout`` later, instead of never."""
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        connection = HttpConnection(HttpServer(lambda: no_handler, TransportConfig(body_timeout=0.1)), no_handler)
        transport = FakeTransport(queued=50_000)
        connection.transport = transport
        began = loop.time()
        connection.close()
        assert transport.closed
        await asyncio.sleep(0.5)
        assert transport.aborted_at is not None, "closed for ever, waiting for a peer that does not read"
        assert 0.1 <= transport.aborted_at - began < 0.3

    asyncio.run(scenario())


def test_answers_still_moving_are_given_their_time_then_the_close_completes() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport = FakeTransport(queued=50_000)
        began = loop.time()
        watch = FlushWatch(loop, transport, 0.05)
        while transport.queued:  # a slow reader: 5 KB every 20 ms, 0.2 s in all
            await asyncio.sleep(0.02)
            transport.queued -= 5_000
        await asyncio.sleep(0.2)
        assert transport.aborted_at is None and loop.time() - began > 0.3
        watch.cancel()

        stalled = FakeTransport(queued=50_000)
        FlushWatch(loop, stalled, 0.05)
        for _ in range(5):  # progress, then none
            await asyncio.sleep(0.02)
            stalled.queued -= 1_000
        await asyncio.sleep(0.3)
        assert stalled.aborted_at is not None

    asyncio.run(scenario())
