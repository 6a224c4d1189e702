"""One contract every ledger adapter passes: the in-memory fake, the SQLite
ledger and the ledger kept in a bucket (on the fake bucket, and on a real
SeaweedFS when its fixture can start one) run the very same tests. Time is an argument (``now``), never a sleep.
Cross-process races and crashes, which only a shared ledger can have, are in
tests/unit/test_sqlite_ledger.py."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

from adapters.ledger.objects import ObjectLedger
from adapters.ledger.sqlite import SqliteLedger
from adapters.s3.client import S3Client
from ports.ledger import Ledger, Record, RecordExists, Reservation
from tests.fake_ledger import MemoryLedger
from tests.fake_s3 import FakeS3
from tests.seaweed import SeaweedServer

T = TypeVar("T")
TOKEN_HASH = hashlib.sha256(b"the delete token").hexdigest()
LEASE = 60.0


@pytest.fixture(params=["memory", "sqlite", "objects-fake", "objects-seaweedfs"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
    elif request.param == "objects-fake":
        yield ObjectLedger(FakeS3(), "svc/prefix")
    elif request.param == "objects-seaweedfs":
        server: SeaweedServer = request.getfixturevalue("seaweed")
        client = S3Client(server.settings(server.new_bucket()), pool_size=24)
        yield ObjectLedger(client, "svc/prefix")
        client.close()
    else:
        db = SqliteLedger(tmp_path / "ledger.sqlite3", durable=False)
        db.prepare()
        yield db
        db.close()


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def record(file_id: str, size: int = 100, expires: float | None = None, max_downloads: int | None = None) -> Record:
    return Record(id=file_id, size=size, created=1000.0, expires=expires, max_downloads=max_downloads,
                  downloads=0, delete_token_hash=TOKEN_HASH, client="203.0.113.7")


def test_added_record_reads_back_and_ids_are_unique(ledger: Ledger) -> None:
    async def scenario() -> None:
        first = Record(id="a" * 26, size=2 ** 40, created=1764150000.25, expires=1764754800.5, max_downloads=3,
                       downloads=0, delete_token_hash=TOKEN_HASH, client="2001:db8::1")
        await ledger.add(first)
        assert await ledger.get(first.id) == first
        assert await ledger.get("missing") is None
        with pytest.raises(RecordExists):
            await ledger.add(record(first.id, size=5))
        assert await ledger.get(first.id) == first
        assert await ledger.total_bytes() == 2 ** 40

    run(scenario)


def test_record_availability_and_downloads_left() -> None:
    assert record("x").available(10 ** 12) and record("x").downloads_left is None
    timed = record("x", expires=2000.0, max_downloads=2)
    assert timed.available(1999.9) and not timed.available(2000.0) and timed.downloads_left == 2
    used = Record("x", 1, 0.0, None, 2, 2, TOKEN_HASH, "c")
    assert used.downloads_left == 0 and not used.available(0.0)
    for bad in [dict(size=-1), dict(max_downloads=0), dict(downloads=-1)]:
        with pytest.raises(ValueError):
            Record(**{**record("x").__dict__, **bad})


def test_unlimited_files_are_admitted_without_counting(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("free", expires=5000.0))
        held = [await ledger.reserve_download("free", 1000.0 + i, LEASE) for i in range(50)]
        assert all(r is not None and not r.counted for r in held)
        first = held[0]
        assert first is not None
        assert await ledger.renew(first, 4999.0) is True
        assert await ledger.complete_download(first, 1001.0) is None
        await ledger.release_download(first)
        assert await ledger.get("free") == record("free", expires=5000.0)
        assert await ledger.reserve_download("free", 5000.0, LEASE) is None  # expired

    run(scenario)


def test_unknown_and_expired_files_are_refused(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("old", expires=2000.0, max_downloads=5))
        assert await ledger.reserve_download("missing", 1000.0, LEASE) is None
        assert await ledger.reserve_download("old", 2000.0, LEASE) is None
        assert await ledger.reserve_download("old", 1999.0, LEASE) is not None
        with pytest.raises(ValueError):
            await ledger.reserve_download("old", 1000.0, 0.0)

    run(scenario)


def test_concurrent_reservations_at_the_boundary_admit_exactly_the_limit(ledger: Ledger) -> None:
    async def scenario() -> None:
        for limit in (1, 3):
            await ledger.add(record(f"race{limit}", max_downloads=limit))
            attempts = await asyncio.gather(*(ledger.reserve_download(f"race{limit}", 1000.0, LEASE)
                                              for _ in range(20)))
            admitted = [r for r in attempts if r is not None]
            assert len(admitted) == limit and all(r.counted for r in admitted)
            assert len({r.ticket for r in admitted}) == limit

    run(scenario)


def test_complete_returns_downloads_left_and_zero_expires_the_record(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("n3", expires=9000.0, max_downloads=3))
        lefts = []
        for i in range(3):
            held = await ledger.reserve_download("n3", 1000.0 + i, LEASE)
            assert held is not None
            lefts.append(await ledger.complete_download(held, 1000.5 + i))
        assert lefts == [2, 1, 0]
        after = await ledger.get("n3")
        assert after is not None and after.downloads == 3 and after.downloads_left == 0
        assert after.expires == 1002.5 and not after.available(1002.5)
        assert await ledger.reserve_download("n3", 1003.0, LEASE) is None
        assert await ledger.expired(1003.0, 10) == ["n3"]

    run(scenario)


def test_release_frees_the_slot_and_does_not_count(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("one", max_downloads=1))
        first = await ledger.reserve_download("one", 1000.0, LEASE)
        assert first is not None
        assert await ledger.reserve_download("one", 1000.0, LEASE) is None
        await ledger.release_download(first)
        await ledger.release_download(first)  # idempotent
        assert await ledger.renew(first, 1001.0) is False
        again = await ledger.reserve_download("one", 1001.0, LEASE)
        assert again is not None
        assert (await ledger.get("one")) == record("one", max_downloads=1)
        assert await ledger.complete_download(again, 1002.0) == 0

    run(scenario)


def test_a_lapsed_lease_frees_the_slot_and_cannot_be_renewed(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("lease", max_downloads=1))
        crashed = await ledger.reserve_download("lease", 1000.0, 10.0)
        assert crashed is not None
        assert await ledger.reserve_download("lease", 1009.9, 10.0) is None
        successor = await ledger.reserve_download("lease", 1010.0, 10.0)
        assert successor is not None
        assert await ledger.renew(crashed, 1010.0) is False
        assert await ledger.renew(successor, 1015.0) is True  # now held until 1025
        assert await ledger.reserve_download("lease", 1024.0, 10.0) is None
        assert await ledger.renew(successor, 1025.0) is False
        third = await ledger.reserve_download("lease", 1025.0, 10.0)
        assert third is not None and third.ticket not in (crashed.ticket, successor.ticket)

    run(scenario)


def test_lapsed_leases_free_their_slots_however_many_there_are(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("busy", max_downloads=100))
        await ledger.add(record("x", max_downloads=2))
        for i in range(40):  # lapsing before x's, so they come first in any clean-up
            assert await ledger.reserve_download("busy", 1000.0 + i / 100, 10.0) is not None
        assert await ledger.reserve_download("x", 1001.0, 10.0) is not None
        assert await ledger.reserve_download("x", 1001.0, 10.0) is not None
        assert await ledger.reserve_download("x", 1010.9, 10.0) is None
        assert await ledger.reserve_download("x", 1011.0, 10.0) is not None
        assert await ledger.reserve_download("x", 1011.0, 10.0) is not None
        assert await ledger.reserve_download("x", 1011.0, 10.0) is None

    run(scenario)


def test_a_late_complete_still_counts_but_never_beyond_the_limit(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("late", max_downloads=2))
        slow = await ledger.reserve_download("late", 1000.0, 10.0)
        assert slow is not None
        assert await ledger.complete_download(slow, 1011.0) == 1  # lapsed, but the copy was delivered
        a = await ledger.reserve_download("late", 1020.0, 10.0)
        assert a is not None
        b = await ledger.reserve_download("late", 1031.0, 10.0)  # ``a`` lapsed: its slot is free
        assert b is not None
        assert await ledger.complete_download(b, 1032.0) == 0
        assert await ledger.complete_download(a, 1033.0) == 0
        after = await ledger.get("late")
        assert after is not None and after.downloads == 2 and after.expires == 1032.0

    run(scenario)


def test_complete_on_a_removed_record_says_nothing_is_left(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("gone", max_downloads=5))
        held = await ledger.reserve_download("gone", 1000.0, LEASE)
        assert held is not None
        assert await ledger.remove("gone") is True
        assert await ledger.renew(held, 1001.0) is True  # a download in progress goes on
        assert await ledger.complete_download(held, 1002.0) == 0
        assert await ledger.get("gone") is None

    run(scenario)


def test_delete_if_token_revokes_only_with_the_right_token(ledger: Ledger) -> None:
    async def scenario() -> None:
        await ledger.add(record("mine", expires=9000.0, max_downloads=4))
        assert await ledger.delete_if_token("mine", hashlib.sha256(b"wrong").hexdigest(), 1000.0) is False
        assert await ledger.delete_if_token("mine", "", 1000.0) is False
        assert await ledger.delete_if_token("mine", "é" * 64, 1000.0) is False
        assert await ledger.delete_if_token("missing", TOKEN_HASH, 1000.0) is False
        assert (await ledger.get("mine")) == record("mine", expires=9000.0, max_downloads=4)
        assert await ledger.delete_if_token("mine", TOKEN_HASH, 1500.0) is True
        revoked = await ledger.get("mine")
        assert revoked is not None and revoked.expires == 1500.0 and not revoked.available(1500.0)
        assert await ledger.reserve_download("mine", 1500.0, LEASE) is None
        assert await ledger.expired(1500.0, 10) == ["mine"]
        assert await ledger.remove("mine") is True
        assert await ledger.get("mine") is None and await ledger.remove("mine") is False
        assert await ledger.delete_if_token("mine", TOKEN_HASH, 1600.0) is False

    run(scenario)


def test_expired_lists_by_time_earliest_first_up_to_the_limit(ledger: Ledger) -> None:
    async def scenario() -> None:
        for file_id, expires in [("c", 3000.0), ("never", None), ("a", 1000.0), ("b", 2000.0), ("d", 4000.0)]:
            await ledger.add(record(file_id, expires=expires))
        assert await ledger.expired(999.0, 10) == []
        assert await ledger.expired(1000.0, 10) == ["a"]
        assert await ledger.expired(3500.0, 10) == ["a", "b", "c"]
        assert await ledger.expired(3500.0, 2) == ["a", "b"]
        assert await ledger.expired(3500.0, 0) == []
        assert await ledger.expired(10.0 ** 12, 10) == ["a", "b", "c", "d"]
        await ledger.remove("a")
        assert await ledger.expired(3500.0, 2) == ["b", "c"]

    run(scenario)


def test_total_bytes_and_files_follow_adds_and_removes(ledger: Ledger) -> None:
    async def scenario() -> None:
        assert await ledger.total_bytes() == 0
        assert await ledger.total_files() == 0
        sizes = {f"f{i}": i * 1000 + 1 for i in range(10)}
        await asyncio.gather(*(ledger.add(record(k, size=v)) for k, v in sizes.items()))
        assert await ledger.total_bytes() == sum(sizes.values())
        assert await ledger.total_files() == 10
        with pytest.raises(RecordExists):
            await ledger.add(record("f3", size=10 ** 9))
        assert await ledger.total_files() == 10
        assert await ledger.remove("f3") is True
        assert await ledger.remove("f3") is False
        assert await ledger.remove("never-added") is False
        assert await ledger.total_bytes() == sum(sizes.values()) - sizes["f3"]
        assert await ledger.total_files() == 9
        held = await ledger.reserve_download("f5", 1000.0, LEASE)
        assert isinstance(held, Reservation)
        await ledger.delete_if_token("f5", TOKEN_HASH, 1000.0)  # revoked but not removed: still counted
        assert await ledger.complete_download(held, 1000.0) is None
        assert await ledger.total_bytes() == sum(sizes.values()) - sizes["f3"]
        assert await ledger.total_files() == 9
        for file_id in sizes:
            await ledger.remove(file_id)
        assert await ledger.total_bytes() == 0
        assert await ledger.total_files() == 0

    run(scenario)
