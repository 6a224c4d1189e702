"""The ledger kept in a bucket (adapters/ledger/objects.py), on the fake bucket
(tests/fake_s3.py): what only a ledger shared through conditional writes can
get wrong. Several ``ObjectLedger``s on one bucket play several instances;
injected failures play a crash between two writes. The port's contract is in
tests/contract/test_ledger_contract.py."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Mapping

import pytest

from adapters.ledger.objects import STALE_GRACE, ObjectLedger
from adapters.s3 import cas
from adapters.s3.client import NoSuchKey, PreconditionFailed, S3Error
from ports.ledger import LedgerUnavailable, Record, RecordExists
from tests.fake_s3 import FakeS3

TOKEN_HASH = hashlib.sha256(b"token").hexdigest()
PREFIX = "tenant/svc"


def record(file_id: str, size: int = 10, expires: float | None = 5000.0, max_downloads: int | None = None) -> Record:
    return Record(file_id, size, 1000.0, expires, max_downloads, 0, TOKEN_HASH, "198.51.100.1")


class IgnoringConditions(FakeS3):
    """A server that accepts conditional writes but ignores the conditions
    (last writer wins)."""

    async def put_object(self, key: str, body: bytes, *, metadata: Mapping[str, str] | None = None,
                         if_match: str | None = None, if_none_match: bool = False) -> str:
        return await super().put_object(key, body, metadata=metadata)


def test_instances_racing_for_the_last_download_admit_exactly_one() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        instances = [ObjectLedger(bucket, PREFIX) for _ in range(6)]
        await instances[0].add(record("last", max_downloads=3))
        first = await instances[1].reserve_download("last", 1000.0, 60.0)
        assert first is not None
        assert await instances[2].complete_download(first, 1001.0) == 2
        second = await instances[3].reserve_download("last", 1002.0, 60.0)
        assert second is not None and await instances[4].complete_download(second, 1003.0) == 1
        racers = await asyncio.gather(*(ledger.reserve_download("last", 1004.0, 60.0)
                                        for ledger in instances for _ in range(3)))
        admitted = [r for r in racers if r is not None]
        assert len(admitted) == 1
        assert await instances[5].complete_download(admitted[0], 1005.0) == 0
        assert await instances[0].reserve_download("last", 1006.0, 60.0) is None
        stored = await instances[1].get("last")
        assert stored is not None and stored.downloads == 3 and stored.expires == 1005.0

    asyncio.run(scenario())


def test_the_writers_of_one_instance_take_turns_instead_of_losing_races() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        await ledger.add(record("busy", max_downloads=10))
        racers = await asyncio.gather(*(ledger.reserve_download("busy", 1000.0, 60.0) for _ in range(25)))
        assert sum(r is not None for r in racers) == 10
        assert bucket.refused == 0  # no conditional write of this process lost to another of its own
        other = ObjectLedger(bucket, PREFIX)  # another instance still races, and the server decides
        await asyncio.gather(*(lg.release_download(r) for r in racers if r is not None for lg in (ledger, other)))
        assert bucket.refused > 0
        assert (await other.reserve_download("busy", 1001.0, 60.0)) is not None

    asyncio.run(scenario())


def test_a_server_that_ignores_conditions_would_let_racers_exceed_the_limit_and_the_probe_refuses_it() -> None:
    async def scenario() -> None:
        loose = IgnoringConditions()
        instances = [ObjectLedger(loose, PREFIX) for _ in range(4)]
        await instances[0].add(record("one", max_downloads=1))
        racers = await asyncio.gather(*(ledger.reserve_download("one", 1000.0, 60.0) for ledger in instances))
        assert sum(r is not None for r in racers) > 1  # why the CAS path matters
        with pytest.raises(LedgerUnavailable, match="ignores conditional writes"):
            await instances[0].probe()
        await ObjectLedger(FakeS3(), PREFIX).probe()  # an honest server passes, and nothing stays behind
        honest = FakeS3()
        await ObjectLedger(honest, PREFIX).probe()
        assert honest.objects == {}

    asyncio.run(scenario())


def test_a_missing_key_under_if_match_as_aws_answers_it_is_a_lost_race_too() -> None:
    async def scenario() -> None:
        ledger = ObjectLedger(FakeS3(missing_if_match=NoSuchKey), PREFIX)
        await ledger.add(record("gone", max_downloads=2))
        held = await ledger.reserve_download("gone", 1000.0, 60.0)
        assert held is not None
        removing = asyncio.ensure_future(ledger.remove("gone"))
        assert await ledger.complete_download(held, 1001.0) in (0, 1)
        assert await removing is True
        assert await ledger.get("gone") is None and await ledger.total_bytes() == 0

    asyncio.run(scenario())


def test_endless_contention_is_ledger_unavailable_not_a_hang() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        await ledger.add(record("hot", max_downloads=5))
        bucket.fail("put_object", PreconditionFailed(412, "PreconditionFailed"), times=cas.ATTEMPTS)
        with pytest.raises(LedgerUnavailable):
            await ledger.reserve_download("hot", 1000.0, 60.0)
        assert (await ledger.get("hot")) == record("hot", max_downloads=5)
        assert await ledger.reserve_download("hot", 1000.0, 60.0) is not None

    asyncio.run(scenario())


def test_bucket_errors_are_ledger_unavailable() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        bucket.fail("get_object", S3Error(503, "SlowDown"))
        with pytest.raises(LedgerUnavailable):
            await ledger.get("x")
        bucket.fail("get_object", ConnectionResetError())
        with pytest.raises(LedgerUnavailable):
            await ledger.total_bytes()
        bucket.objects[f"{PREFIX}/ledger/records/bad"] = (b"{not json", {}, '"x"')
        with pytest.raises(LedgerUnavailable):
            await ledger.get("bad")

    asyncio.run(scenario())


def test_a_crash_while_adding_leaves_the_total_high_never_low() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        await ledger.add(record("kept", size=100))
        bucket.fail("put_object", ConnectionResetError(), where="/records/lost")  # the record's write
        bucket.fail("put_object", ConnectionResetError(), where="/expiry/")  # the index entry's, on the retry
        for _ in range(2):
            with pytest.raises(LedgerUnavailable):
                await ledger.add(record("lost", size=7))
        assert await ledger.get("lost") is None
        assert await ledger.total_bytes() == 114  # counted before the record: the quota errs on refusing
        with pytest.raises(RecordExists):
            await ledger.add(record("kept", size=100))
        assert await ledger.total_bytes() == 114

    asyncio.run(scenario())


def test_a_crash_while_removing_leaves_a_tombstone_the_janitor_clears() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        await ledger.add(record("doomed", size=50, expires=2000.0))
        bucket.fail("get_object", ConnectionResetError(), where="/total/")  # after the tombstone
        with pytest.raises(LedgerUnavailable):
            await ledger.remove("doomed")
        assert await ledger.get("doomed") is None
        assert await ledger.remove("doomed") is False  # the tombstone: one remover only
        assert await ledger.total_bytes() == 50  # never lowered twice; high, on the safe side
        assert await ledger.expired(2000.0 + STALE_GRACE - 1, 10) == []
        assert await ledger.expired(2000.0 + STALE_GRACE, 10) == []
        assert [key for key in bucket.objects if "/records/" in key or "/expiry/" in key] == []

    asyncio.run(scenario())


def test_the_last_download_indexes_its_new_expiry_before_the_record_says_it() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        await ledger.add(record("n1", expires=None, max_downloads=1))
        held = await ledger.reserve_download("n1", 1000.0, 60.0)
        assert held is not None
        bucket.fail("put_object", ConnectionResetError(), where="/expiry/")
        with pytest.raises(LedgerUnavailable):
            await ledger.complete_download(held, 1001.0)  # the index entry could not be written...
        left = await ledger.get("n1")
        assert left is not None and left.downloads == 0 and left.expires is None  # ...so the record did not move
        assert await ledger.complete_download(held, 1002.0) == 0
        assert await ledger.expired(1002.0, 10) == ["n1"]

    asyncio.run(scenario())


def test_stale_index_entries_are_skipped_and_cleared_however_many_come_first() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger = ObjectLedger(bucket, PREFIX)
        for i in range(40):  # revoked at 1500: their entries at 3000 + i go stale
            await ledger.add(record(f"r{i:02d}", expires=3000.0 + i))
            assert await ledger.delete_if_token(f"r{i:02d}", TOKEN_HASH, 1500.0)
            await ledger.remove(f"r{i:02d}")
        bucket.objects[f"{PREFIX}/ledger/expiry/{3100.0:020.6f}/ghost"] = (b"", {}, '"e"')  # an add that crashed
        await ledger.add(record("due", expires=3200.0))
        await ledger.add(record("later", expires=9000.0))
        assert await ledger.expired(3199.0, 1) == []  # all within the grace: skipped, kept
        assert len([key for key in bucket.objects if "/expiry/" in key]) == 43
        assert await ledger.expired(3100.0 + STALE_GRACE, 1) == ["due"]  # past 41 stale entries, cleared
        assert await ledger.expired(9000.0, 5) == ["due", "later"]
        entries = [key for key in bucket.objects if "/expiry/" in key]
        assert len(entries) == 2

    asyncio.run(scenario())


def test_everything_lives_under_the_prefix() -> None:
    async def scenario() -> None:
        bucket = FakeS3()
        ledger: Any = ObjectLedger(bucket, "/" + PREFIX + "/")
        await ledger.add(record("a", max_downloads=2))
        await ledger.reserve_download("a", 1000.0, 60.0)
        assert bucket.objects and all(key.startswith(PREFIX + "/ledger/") for key in bucket.objects)
        top = ObjectLedger(bucket, "")
        await top.add(record("b"))
        assert "ledger/records/b" in bucket.objects

    asyncio.run(scenario())
