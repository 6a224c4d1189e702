"""One contract every storage adapter passes: the in-memory fake, the
filesystem store and the S3 store (on a real SeaweedFS, tests/seaweed.py, a
fresh bucket per test) run the very same tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

from adapters.s3.client import S3Client
from adapters.storage.filesystem import FileSystemStore
from adapters.storage.s3 import S3Store
from ports.storage import BlobNotFound, Listing, Storage
from tests.fakes import MemoryStore

T = TypeVar("T")
META = {"name": "naïve €.txt", "content_type": "text/plain", "sha256": "00" * 32, "created": "2026-01-01T00:00:00Z"}


@pytest.fixture(params=["memory", "filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "s3":
        seaweed = request.getfixturevalue("seaweed")  # started only when an S3 test runs
        s3 = S3Store(S3Client(seaweed.settings(seaweed.new_bucket())), prefix="uploads/")
        yield s3
        s3.close()
    else:
        fs = FileSystemStore(tmp_path / "store")
        fs.prepare()
        yield fs


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


async def put(store: Storage, blob_id: str, data: bytes, metadata: dict[str, str] = META) -> None:
    writer = await store.open_writer(blob_id, len(data))
    for i in range(0, len(data), 7000):
        await writer.write(data[i:i + 7000])
    await writer.commit(metadata)


def test_committed_blob_reads_back_exactly(store: Storage) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)

    async def scenario() -> None:
        await put(store, "blob1", data)
        info = await store.stat("blob1")
        assert info.size == len(data) and dict(info.metadata) == META
        reader = await store.open_reader("blob1")
        try:
            assert reader.info.size == len(data)
            assert await reader.read_at(0, len(data)) == data
            assert await reader.read_at(1000, 10) == data[1000:1010]
            assert await reader.read_at(len(data) - 5, 100) == data[-5:]
            assert await reader.read_at(len(data), 100) == b""
        finally:
            reader.close()
            reader.close()

    run(scenario)


def test_nothing_is_visible_before_commit(store: Storage) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("blob2", None)
        await writer.write(b"x" * 100)
        with pytest.raises(BlobNotFound):
            await store.stat("blob2")
        with pytest.raises(BlobNotFound):
            await store.open_reader("blob2")
        await writer.commit({"k": "v"})
        assert (await store.stat("blob2")).size == 100

    run(scenario)


def test_abort_leaves_nothing_and_is_idempotent(store: Storage) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("blob3", None)
        await writer.write(b"partial" * 1000)
        await writer.abort()
        await writer.abort()
        with pytest.raises(BlobNotFound):
            await store.stat("blob3")
        with pytest.raises(ValueError):
            await writer.commit({})

    run(scenario)


def test_unknown_ids_are_not_found(store: Storage) -> None:
    async def scenario() -> None:
        for blob_id in ["missing", "zz", "a" * 26]:
            with pytest.raises(BlobNotFound):
                await store.stat(blob_id)
            with pytest.raises(BlobNotFound):
                await store.open_reader(blob_id)
            with pytest.raises(BlobNotFound):
                await store.delete(blob_id)

    run(scenario)


def test_delete_removes_but_open_readers_keep_reading(store: Storage) -> None:
    async def scenario() -> None:
        await put(store, "blob4", b"keep me")
        reader = await store.open_reader("blob4")
        await store.delete("blob4")
        with pytest.raises(BlobNotFound):
            await store.stat("blob4")
        assert await reader.read_at(0, 100) == b"keep me"
        reader.close()

    run(scenario)


def test_empty_metadata_and_binary_content(store: Storage) -> None:
    async def scenario() -> None:
        data = bytes(range(256)) * 4
        await put(store, "blob5", data, {})
        info = await store.stat("blob5")
        assert info.size == len(data) and dict(info.metadata) == {}

    run(scenario)


def test_many_blobs_are_independent(store: Storage) -> None:
    async def scenario() -> None:
        blobs = {f"many{i}": os.urandom(i * 1000 + 1) for i in range(20)}
        await asyncio.gather(*(put(store, k, v) for k, v in blobs.items()))
        for blob_id, data in blobs.items():
            reader = await store.open_reader(blob_id)
            assert await reader.read_at(0, len(data) + 1) == data
            reader.close()

    run(scenario)


def test_listing_pages_through_committed_blobs_only(store: Storage) -> None:
    assert isinstance(store, Listing)
    ids = sorted(f"{prefix}{n}" for prefix in ("aa", "ab", "zz") for n in range(5))

    async def scenario() -> None:
        for blob_id in ids:
            await put(store, blob_id, b"x")
        pending = await store.open_writer("aa9", 1)  # uncommitted: not listed
        await pending.write(b"y")
        await store.delete("ab2")
        expected = [i for i in ids if i != "ab2"]
        assert await store.list_ids("", 100) == expected
        pages: list[str] = []
        after = ""
        while page := await store.list_ids(after, 4):
            assert len(page) <= 4
            pages += page
            after = page[-1]
        assert pages == expected
        assert await store.list_ids("ab", 3) == ["ab0", "ab1", "ab3"]
        await pending.abort()

    run(scenario)
