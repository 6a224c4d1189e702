"""Partial (tus) uploads kept in the bucket (adapters/s3/partials.py), on the
fake bucket: what only uploads shared by several instances can get wrong.
Two ``ResumableS3Store``s on one bucket play two instances; a crash is the
fake bucket refusing every call from a chosen request on (the dead process
makes no more), after which the other instance carries on. The capability's
contract is in tests/contract/test_resumable_contract.py."""

from __future__ import annotations

import asyncio
import os
from typing import Any, cast

import pytest

from adapters.s3.client import S3Client
from adapters.storage.s3_resumable import ResumableS3Store
from ports.storage import BlobNotFound, PartialBusy, PartialNotFound
from tests.fake_s3 import FakeS3

SEGMENT = 1000
LEASE = 60.0
META = {"request": "{}"}
BLOB_META = {"name": "a.bin", "sha256": "00" * 32}


class Instances:
    """Two stores on one fake bucket, with one settable wall clock."""

    def __init__(self) -> None:
        self.bucket = FakeS3()
        self.now = 1000.0
        self.a, self.b = (ResumableS3Store(cast(S3Client, self.bucket), "svc/", segment_size=SEGMENT,
                                           lease_seconds=LEASE, clock=lambda: self.now) for _ in range(2))

    def keys(self, part: str) -> list[str]:
        return sorted(key for key in self.bucket.objects if part in key)


async def append(store: Any, upload_id: str, data: bytes, piece: int = 700) -> int:
    appender = await store.open_append(upload_id)
    for i in range(0, len(data), piece):
        await appender.write(data[i:i + piece])
    offset: int = (await appender.save(appender.info.length, appender.info.expires)).offset
    return offset


async def read_all(store: Any, blob_id: str) -> bytes:
    reader = await store.open_reader(blob_id)
    try:
        data: bytes = await reader.read_at(0, reader.info.size)
        return data
    finally:
        reader.close()


def test_an_upload_started_on_one_instance_goes_on_and_ends_on_another() -> None:
    data = os.urandom(6300)

    async def scenario() -> None:
        up = Instances()
        await up.a.create_partial("u1", len(data), 5000.0, META)
        assert await append(up.a, "u1", data[:2500]) == 2500
        appender = await up.b.open_append("u1")
        assert appender.info.offset == 2500
        assert await appender.read_at(0, 6000) == data[:2500]
        await appender.write(data[2500:4200])
        assert await appender.read_at(900, 2000) == data[900:2900]
        assert (await appender.save(len(data), 5000.0)).offset == 4200
        assert (await up.a.partial_info("u1")).offset == 4200
        last = await up.a.open_append("u1")
        await last.write(data[4200:])
        await last.commit(BLOB_META)
        assert await read_all(up.b, "u1") == data
        assert dict((await up.b.stat("u1")).metadata) == BLOB_META
        assert up.keys("/partials/") == []
        with pytest.raises(PartialNotFound):
            await up.b.partial_info("u1")

    asyncio.run(scenario())


def test_small_appends_keep_one_short_segment_at_most() -> None:
    data = os.urandom(3050)

    async def scenario() -> None:
        up = Instances()
        await up.a.create_partial("u2", None, 5000.0, META)
        for i in range(0, len(data), 61):
            await append([up.a, up.b][i % 2], "u2", data[i:i + 61])
        state = up.keys("/partials/u2/seg-")
        assert len(state) == 4  # three full segments and the short last one; rewritten ones deleted
        appender = await up.b.open_append("u2")
        assert await appender.read_at(0, 10 ** 6) == data
        await appender.abort()

    asyncio.run(scenario())


def test_a_crashed_holder_blocks_only_until_its_lease_ends_and_cannot_overwrite_its_successor() -> None:
    async def scenario() -> None:
        up = Instances()
        await up.a.create_partial("u3", None, 5000.0, META)
        stale = await up.a.open_append("u3")
        await stale.write(b"lost " * 300)
        for call in (up.b.open_append, up.b.remove_partial, up.a.open_append):
            with pytest.raises(PartialBusy):
                await call("u3")
        assert await up.b.remove_expired(10 ** 9) == 0  # held: not abandoned
        up.now += LEASE + 1
        successor = await up.b.open_append("u3")
        await successor.write(b"kept")
        await successor.save(None, 5000.0)
        with pytest.raises(OSError):
            await stale.save(None, 5000.0)  # its lease is gone and the state moved on
        appender = await up.a.open_append("u3")
        assert appender.info.offset == 4 and await appender.read_at(0, 100) == b"kept"
        await appender.abort()
        assert len(up.keys("/seg-")) == 1  # the stale appender's segment went with its failed save

    asyncio.run(scenario())


def test_a_crash_at_any_request_of_an_append_leaves_the_old_or_the_new_offset_with_exactly_those_bytes() -> None:
    data = os.urandom(4100)
    more = os.urandom(321)

    async def scenario() -> None:
        seen = set()
        for crash in range(60):
            up = Instances()
            await up.a.create_partial("u4", None, 5000.0, META)
            await append(up.a, "u4", data[:1500])
            up.bucket.crash_after(crash)
            try:
                await append(up.a, "u4", data[1500:])
                crashed = False
            except OSError:
                crashed = True
            up.bucket.crash_after(None)
            up.now += LEASE + 1
            offset = (await up.b.partial_info("u4")).offset
            seen.add(offset)
            assert offset in (1500, 4100) and (crashed or offset == 4100)
            appender = await up.b.open_append("u4")
            assert await appender.read_at(0, 10 ** 6) == data[:offset]
            await appender.write(more)
            await appender.commit(BLOB_META)
            assert await read_all(up.b, "u4") == data[:offset] + more
            assert up.keys("/partials/") == []
            if not crashed:
                break
        assert seen == {1500, 4100}

    asyncio.run(scenario())


def test_a_crash_at_any_request_of_a_commit_leaves_the_upload_or_the_blob() -> None:
    data = os.urandom(3400)

    async def scenario() -> None:
        outcomes = set()
        for crash in range(80):
            up = Instances()
            await up.a.create_partial("u5", len(data), 5000.0, META)
            await append(up.a, "u5", data[:2000])
            up.bucket.crash_after(crash)
            try:
                appender = await up.a.open_append("u5")
                await appender.write(data[2000:])
                await appender.commit(BLOB_META)
                crashed = False
            except OSError:
                crashed = True
            up.bucket.crash_after(None)
            up.now += LEASE + 1
            try:
                blob = await read_all(up.b, "u5")
            except BlobNotFound:
                offset = (await up.b.partial_info("u5")).offset
                assert offset in (2000, 3400)
                outcomes.add(f"partial at {offset}")
                appender = await up.b.open_append("u5")
                await appender.write(data[offset:])
                await appender.commit(BLOB_META)
                blob = await read_all(up.b, "u5")
            else:
                assert not crashed  # a commit that raised published nothing
                outcomes.add("published")
                with pytest.raises(PartialNotFound):
                    await up.b.partial_info("u5")
            assert blob == data
            await up.b.remove_expired(up.now)
            assert up.keys("/partials/") == []
            if not crashed:
                break
        assert outcomes == {"partial at 2000", "partial at 3400", "published"}

    asyncio.run(scenario())


def test_expired_uploads_go_with_every_object_and_leftovers_of_a_removal_too() -> None:
    async def scenario() -> None:
        up = Instances()
        await up.a.create_partial("old", None, 1500.0, META)
        await append(up.a, "old", b"x" * 2500)
        await up.a.create_partial("new", None, 9000.0, META)
        await append(up.a, "new", b"y" * 10)
        await up.a.create_partial("half", None, 9000.0, META)
        await append(up.a, "half", b"z" * 10)
        up.bucket.crash_after(4)  # removing "half": the lease (read, write), the state (read, delete), then death
        with pytest.raises(OSError):
            await up.a.remove_partial("half")
        up.bucket.crash_after(None)
        up.now += LEASE + 1
        assert await up.b.remove_expired(2000.0) == 1
        assert [k.split("/")[2] for k in up.keys("/partials/")] == ["new", "new", "new"]
        assert (await up.a.partial_info("new")).offset == 10

    asyncio.run(scenario())
