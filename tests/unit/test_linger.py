"""``Linger``: after a refusal the write side is shut, input is discarded,
and the connection is aborted once the peer is quiet for ``LINGER_IDLE`` or
after ``LINGER_MAX`` in all (here shrunk to milliseconds)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.http import connection
from adapters.http.connection import Linger


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.eof_written = False
        self.aborted_at: float | None = None

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.aborted_at = asyncio.get_running_loop().time()


@pytest.fixture(autouse=True)
def short_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "LINGER_IDLE", 0.05)
    monkeypatch.setattr(connection, "LINGER_MAX", 0.3)


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
