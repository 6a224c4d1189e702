"""What the S3 store promises beyond the storage contract, on a real SeaweedFS:
multipart streaming with bounded memory, nothing partial after an abort or a
failed commit, one GET per sequential download, exact metadata."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

from adapters.s3.client import S3Client
from adapters.s3.writer import BlobExists
from adapters.storage.s3 import S3Store
from ports.storage import BlobNotFound, StorageFull
from tests.seaweed import SeaweedServer

T = TypeVar("T")
MiB = 1 << 20


class CountingClient(S3Client):
    """Counts the calls the store makes, and how many parts are in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def open_stream(self, key: str, start: int = 0, end: int | None = None) -> Any:
        self.count("open_stream")
        return await super().open_stream(key, start, end)

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> str:
        self.count("upload_part")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await super().upload_part(key, upload_id, number, body)
        finally:
            self.in_flight -= 1

    async def put_object(self, key: str, body: bytes | bytearray, **kwargs: Any) -> str:
        self.count("put_object")
        return await super().put_object(key, body, **kwargs)


@pytest.fixture
def store(seaweed: SeaweedServer) -> Iterator[S3Store]:
    s3 = S3Store(CountingClient(seaweed.settings(seaweed.new_bucket())), prefix="up", part_size=5 * MiB)
    yield s3
    s3.close()


def calls(store: S3Store) -> dict[str, int]:
    assert isinstance(store.client, CountingClient)
    return store.client.calls


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


async def leftovers(store: S3Store) -> tuple[list[str], list[tuple[str, str]]]:
    keys = [info.key for info in await store.client.list_objects("")]
    return keys, await store.client.list_multipart_uploads("")


def test_large_blobs_stream_in_parts_sent_while_receiving(store: S3Store) -> None:
    data = os.urandom(12 * MiB + 3)
    meta = {"name": "\u00e9t\u00e9 \U0001F600 \"q\" %41 +=\n\t.txt", "sha256": "ab" * 32}

    async def scenario() -> None:
        writer = await store.open_writer("big", len(data))
        for i in range(0, len(data), 64 * 1024):
            await writer.write(data[i:i + 64 * 1024])
            await asyncio.sleep(0)  # as between two reads from a client's socket
            if i == 7 * MiB:  # the first part is on its way before the body has all arrived
                assert calls(store).get("upload_part") == 1
        assert await store.list_ids("", 10) == []  # nothing visible before commit
        await writer.commit(meta)
        assert calls(store)["upload_part"] == 3 and store.client.max_in_flight == 1  # type: ignore[attr-defined]
        info = await store.stat("big")
        assert (info.size, dict(info.metadata)) == (len(data), meta)
        keys, uploads = await leftovers(store)
        assert uploads == [] and all(k.startswith("up/") for k in keys) and len(keys) == 2
        reader = await store.open_reader("big")
        got = b"".join([await reader.read_at(i, 100_000) for i in range(0, len(data), 100_000)])
        assert got == data
        reader.close()

    run(scenario)


def test_a_sequential_download_is_one_get_and_a_jump_is_one_more(store: S3Store) -> None:
    data = os.urandom(3 * MiB)

    async def scenario() -> None:
        writer = await store.open_writer("seq", None)
        await writer.write(data)
        await writer.commit({})
        assert calls(store) == {"put_object": 2}  # the data, then the record: no multipart under a part
        reader = await store.open_reader("seq")
        assert b"".join([await reader.read_at(i, 65536) for i in range(0, len(data), 65536)]) == data
        assert calls(store)["open_stream"] == 1
        assert await reader.read_at(1000, 10) == data[1000:1010]  # a jump back: one ranged GET
        assert await reader.read_at(1010, 5) == data[1010:1015]  # and on from there
        assert calls(store)["open_stream"] == 2
        assert await reader.read_at(len(data), 10) == b""
        reader.close()
        reader.close()
        with pytest.raises(ValueError):
            await reader.read_at(0, 1)

    run(scenario)


def test_abort_leaves_no_object_and_no_upload(store: S3Store) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("gone", None)
        await writer.write(os.urandom(11 * MiB))
        await asyncio.sleep(0)  # the second part starts
        assert calls(store)["upload_part"] == 2
        await writer.abort()
        await writer.abort()
        assert await leftovers(store) == ([], [])
        with pytest.raises(BlobNotFound):
            await store.stat("gone")

    run(scenario)


def test_a_committed_id_is_never_replaced_and_the_loser_leaves_nothing(store: S3Store) -> None:
    async def scenario() -> None:
        first, second = await store.open_writer("same", None), await store.open_writer("same", None)
        await first.write(b"first")
        await second.write(b"second" * (1 * MiB))
        await first.commit({"n": "1"})
        with pytest.raises(BlobExists):
            await second.commit({"n": "2"})
        await second.abort()  # after a failed commit: nothing more to do
        reader = await store.open_reader("same")
        assert await reader.read_at(0, 100) == b"first"
        reader.close()
        keys, uploads = await leftovers(store)
        assert len(keys) == 2 and uploads == []

    run(scenario)


def test_a_cancelled_commit_leaves_nothing_visible(store: S3Store) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("cut", None)
        await writer.write(os.urandom(6 * MiB))
        task = asyncio.ensure_future(writer.commit({"k": "v"}))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await writer.abort()
        with pytest.raises(BlobNotFound):
            await store.stat("cut")
        assert await leftovers(store) == ([], [])

    run(scenario)


def test_delete_removes_record_and_data(store: S3Store) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("del", 4)
        await writer.write(b"data")
        await writer.commit({})
        await store.delete("del")
        assert await leftovers(store) == ([], [])
        with pytest.raises(BlobNotFound):
            await store.delete("del")
        with pytest.raises(BlobNotFound):
            await store.stat("../del")

    run(scenario)


def test_part_size_grows_for_huge_hints_and_health_reports_the_bucket(store: S3Store,
                                                                      seaweed: SeaweedServer) -> None:
    async def scenario() -> None:
        writer = await store.open_writer("huge", 100 << 30)
        assert writer._part_size > 10 * MiB  # 100 GiB in at most 9,999 parts
        await writer.abort()
        with pytest.raises(StorageFull):
            await store.open_writer("huger", 60_000 << 30)
        assert await store.health() is None
        await store.check()
        locked_out = S3Store(S3Client(seaweed.settings(store.client.settings.bucket, secret_key="wrong")))
        try:
            assert "403" in (await locked_out.health() or "")
        finally:
            locked_out.close()

    run(scenario)


def test_a_write_cancelled_while_a_part_is_in_flight_still_leaves_nothing(store: S3Store) -> None:
    endpoint = store.client.endpoint
    send = endpoint.request
    part_sent = threading.Event()

    def slow_parts(method: str, key: str, params: Any = (), *args: Any, **kwargs: Any) -> Any:
        if any(name == "partNumber" for name, _ in params):
            time.sleep(0.5)  # in the client's thread: the part is still on its way when the write is cancelled
            try:
                return send(method, key, params, *args, **kwargs)
            finally:
                part_sent.set()
        return send(method, key, params, *args, **kwargs)

    endpoint.request = slow_parts  # type: ignore[method-assign]

    async def scenario() -> None:
        writer = await store.open_writer("cancelled", None)
        await writer.write(os.urandom(5 * MiB))  # part 1 leaves
        task = asyncio.ensure_future(writer.write(os.urandom(5 * MiB)))  # waits for part 1
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await writer.abort()
        assert part_sent.is_set()  # the abort waited for the part
        assert await leftovers(store) == ([], [])

    run(scenario)
