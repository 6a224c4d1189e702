"""Requests per minute on the fake clock, bounded per-client tables, upload
tokens and the count of connections per address."""

from __future__ import annotations

import hashlib

import pytest

from adapters.client_table import ClientTable
from adapters.http.admission import ConnectionCounts, RequestRates, UploadAuth
from tests.fakes import FakeClock


def test_n_requests_at_once_then_one_every_60_over_n_seconds() -> None:
    clock = FakeClock()
    rates = RequestRates(6, clock)  # a full bucket of 6, one more every 10 s
    assert [rates.admit("a") for _ in range(6)] == [0.0] * 6
    assert rates.admit("a") == pytest.approx(10.0)
    clock.time += 9.5
    assert rates.admit("a") == pytest.approx(0.5)  # refused requests cost nothing
    clock.time += 0.5
    assert rates.admit("a") == 0.0
    assert rates.admit("a") == pytest.approx(10.0)
    assert rates.admit("b") == 0.0  # another client has its own bucket
    clock.time += 1000  # idle: full again, and no fuller
    assert [rates.admit("a") for _ in range(7)] == [0.0] * 6 + [pytest.approx(10.0)]


def test_a_client_that_keeps_asking_gets_exactly_the_rate() -> None:
    clock = FakeClock()
    rates = RequestRates(60, clock)
    admitted = 0
    for i in range(6001):  # one request every 50 ms, from 0 s to 300 s
        clock.time = 1000 + i / 20
        admitted += rates.admit("a") == 0.0
    assert admitted == 60 + 300  # the burst, then one a second


def test_idle_clients_are_forgotten_and_memory_is_bounded() -> None:
    clock = FakeClock()
    rates = RequestRates(10, clock, capacity=100)
    for i in range(100):
        rates.admit(f"c{i}")
    assert len(rates.table) == 100 and rates.table.forced == 0
    clock.time += 60  # every bucket is full again: the next newcomer drops them all, exactly
    rates.admit("new")
    assert len(rates.table) == 1 and rates.table.forced == 0
    # Busy entries: with the table full, the least recently used one goes.
    for i in range(150):
        rates.admit(f"d{i}")
    assert len(rates.table) == 100 and rates.table.forced == 51
    assert "d149" in rates.table and "d0" not in rates.table


def test_client_table_keeps_recently_used_entries() -> None:
    table: ClientTable[list[int]] = ClientTable(lambda value: not value, capacity=3)
    a = table.get("a", lambda: [1])
    table.get("b", lambda: [1])
    table.get("c", lambda: [1])
    assert table.get("a", lambda: [2]) is a  # "a" is now the most recently used
    table.get("d", lambda: [1])
    assert "a" in table and "b" not in table and table.forced == 1
    with pytest.raises(ValueError):
        ClientTable(lambda value: True, capacity=0)


TOKEN = "s3cr3t-token-0123456789"


@pytest.mark.parametrize("header, allowed", [
    (f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True), (f"BEARER   {TOKEN} ", True),
    ("Bearer other-token-0123456789", True),
    (None, False), ("", False), ("Bearer", False), ("Bearer ", False), (f"Basic {TOKEN}", False),
    (f"Bearer {TOKEN}x", False), (f"Bearer {TOKEN[:-1]}", False), (TOKEN, False),
    (f"Bearer {TOKEN}, Bearer {TOKEN}", False), ("Bearer \u00e9\u00e9", False),
])
def test_upload_tokens(header: str | None, allowed: bool) -> None:
    assert UploadAuth([TOKEN, "other-token-0123456789"]).allows(header) is allowed


def test_tokens_are_kept_and_compared_only_as_digests() -> None:
    auth = UploadAuth([TOKEN])
    assert TOKEN not in repr(vars(auth))
    assert vars(auth)["_digests"] == [hashlib.sha256(TOKEN.encode()).digest()]
    with pytest.raises(ValueError):
        UploadAuth([])


def test_connections_are_counted_per_key_and_released() -> None:
    counts = ConnectionCounts(2)
    assert counts.admit("a") and counts.admit("a") and not counts.admit("a")
    assert counts.admit("b")
    counts.release("a")
    assert counts.admit("a") and not counts.admit("a")
    for _ in range(3):
        counts.release("a")
    counts.release("b")
    assert len(counts) == 0  # nothing kept for addresses without connections
