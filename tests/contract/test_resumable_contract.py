"""The ``Resumable`` capability's contract: the filesystem store, the S3 store
(on the fake bucket of tests/fake_s3.py and on a real SeaweedFS) and the
in-memory fake (tests/fake_resumable.py) pass the very same tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar, cast

import pytest

from adapters.s3.client import S3Client
from adapters.storage.filesystem import FileSystemStore
from adapters.storage.s3_resumable import ResumableS3Store
from ports.storage import PartialBusy, PartialNotFound, Resumable, Storage
from tests.fake_resumable import MemoryResumableStore
from tests.fake_s3 import FakeS3
from tests.seaweed import SeaweedServer

T = TypeVar("T")
SEGMENT = 1 << 20  # the S3 store's partial uploads in segments of 1 MiB: the 3 MiB test spans several
META = {"request": '{"name": "a.bin"}', "client_metadata": "filename YS5iaW4="}
BLOB_META = {"name": "a.bin", "content_type": "application/octet-stream", "sha256": "00" * 32,
             "created": "2026-01-01T00:00:00Z"}


class Both(Storage, Resumable):
    """A store with the capability (for the type checker)."""


@pytest.fixture(params=["memory", "filesystem", "s3-fake", "s3-seaweedfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryResumableStore()
    elif request.param == "s3-fake":
        yield ResumableS3Store(cast(S3Client, FakeS3()), "svc/", segment_size=SEGMENT)
    elif request.param == "s3-seaweedfs":
        server: SeaweedServer = request.getfixturevalue("seaweed")
        client = S3Client(server.settings(server.new_bucket()), pool_size=8)
        yield ResumableS3Store(client, "svc/", segment_size=SEGMENT)
        client.close()
    else:
        fs = FileSystemStore(tmp_path / "store")
        fs.prepare()
        yield fs


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


async def append(store: Any, upload_id: str, data: bytes, piece: int = 7000) -> int:
    appender = await store.open_append(upload_id)
    for i in range(0, len(data), piece):
        await appender.write(data[i:i + piece])
    info = await appender.save(appender.info.length, appender.info.expires)
    offset: int = info.offset
    return offset


def test_both_stores_have_the_capability(store: Any) -> None:
    assert isinstance(store, Resumable)


def test_appends_grow_the_upload_and_publish_it_as_a_blob(store: Any) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)

    async def scenario() -> None:
        info = await store.create_partial("up1", len(data), 5000.0, META)
        assert (info.offset, info.length, info.expires, dict(info.metadata)) == (0, len(data), 5000.0, META)
        assert await append(store, "up1", data[:1_000_000]) == 1_000_000
        assert await append(store, "up1", b"") == 1_000_000
        recorded = await store.partial_info("up1")
        assert (recorded.offset, recorded.length, dict(recorded.metadata)) == (1_000_000, len(data), META)
        appender = await store.open_append("up1")
        assert appender.info.offset == 1_000_000
        await appender.write(data[1_000_000:2_000_000])
        await appender.write(data[2_000_000:])
        assert await appender.read_at(0, 10) == data[:10]
        assert await appender.read_at(len(data) - 3, 100) == data[-3:]
        assert await appender.read_at(999_990, 20) == data[999_990:1_000_010]
        await appender.commit(BLOB_META)
        await appender.abort()  # nothing after a commit
        blob = await store.stat("up1")
        assert blob.size == len(data) and dict(blob.metadata) == BLOB_META
        reader = await store.open_reader("up1")
        try:
            assert await reader.read_at(0, len(data)) == data
        finally:
            reader.close()
        for call in (store.partial_info, store.open_append, store.remove_partial):
            with pytest.raises(PartialNotFound):
                await call("up1")

    run(scenario)


def test_an_aborted_append_leaves_the_upload_where_it_was(store: Any) -> None:
    async def scenario() -> None:
        await store.create_partial("up2", None, 5000.0, META)
        await append(store, "up2", b"hello ")
        appender = await store.open_append("up2")
        await appender.write(b"garbage" * 1000)
        await appender.abort()
        await appender.abort()
        assert (await store.partial_info("up2")).offset == 6
        assert await append(store, "up2", b"world") == 11
        appender = await store.open_append("up2")
        assert await appender.read_at(0, 100) == b"hello world"
        saved = await appender.save(11, 6000.0)
        assert (saved.offset, saved.length, saved.expires) == (11, 11, 6000.0)

    run(scenario)


def test_one_appender_at_a_time(store: Any) -> None:
    async def scenario() -> None:
        await store.create_partial("up3", 10, 5000.0, META)
        first = await store.open_append("up3")
        with pytest.raises(PartialBusy):
            await store.open_append("up3")
        with pytest.raises(PartialBusy):
            await store.remove_partial("up3")
        assert await store.remove_expired(9999.0) == 0  # held: not abandoned
        await first.write(b"abc")
        await first.save(10, 5000.0)
        second = await store.open_append("up3")
        assert second.info.offset == 3
        await second.abort()
        await store.remove_partial("up3")
        with pytest.raises(PartialNotFound):
            await store.partial_info("up3")

    run(scenario)


def test_expired_uploads_are_removed_and_fresh_ones_kept(store: Any) -> None:
    async def scenario() -> None:
        await store.create_partial("old", 10, 100.0, META)
        await store.create_partial("new", 10, 300.0, META)
        await append(store, "old", b"12345")
        assert await store.remove_expired(200.0) == 1
        with pytest.raises(PartialNotFound):
            await store.partial_info("old")
        assert (await store.partial_info("new")).offset == 0
        assert await store.remove_expired(200.0) == 0

    run(scenario)


def test_unknown_ids_are_not_found(store: Any) -> None:
    async def scenario() -> None:
        for upload_id in ("nothere", "../etc", "a.b"):
            for call in (store.partial_info, store.open_append, store.remove_partial):
                with pytest.raises(PartialNotFound):
                    await call(upload_id)

    run(scenario)
