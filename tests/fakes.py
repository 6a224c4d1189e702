"""In-memory fakes of every port, for domain and adapter unit tests."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Awaitable, Mapping, TypeVar

from ports.storage import BlobInfo, BlobNotFound, BlobReader, StorageFull

T = TypeVar("T")


class MemoryStore:
    """The storage port in a dict. ``capacity`` (bytes, 0 = unlimited) makes
    writes fail with ``StorageFull`` like a full disk."""

    def __init__(self, capacity: int = 0) -> None:
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.capacity = capacity
        self.open_writers = 0
        self.aborted = 0

    def _used(self) -> int:
        return sum(len(data) for data, _ in self.blobs.values())

    async def open_writer(self, blob_id: str, size_hint: int | None) -> MemoryWriter:
        if self.capacity and self._used() + (size_hint or 0) > self.capacity:
            raise StorageFull()
        self.open_writers += 1
        return MemoryWriter(self, blob_id)

    async def open_reader(self, blob_id: str) -> BlobReader:
        if blob_id not in self.blobs:
            raise BlobNotFound(blob_id)
        data, metadata = self.blobs[blob_id]
        return MemoryReader(data, metadata)

    async def stat(self, blob_id: str) -> BlobInfo:
        if blob_id not in self.blobs:
            raise BlobNotFound(blob_id)
        data, metadata = self.blobs[blob_id]
        return BlobInfo(len(data), dict(metadata))

    async def delete(self, blob_id: str) -> None:
        if self.blobs.pop(blob_id, None) is None:
            raise BlobNotFound(blob_id)

    async def list_ids(self, after: str, limit: int) -> list[str]:
        return sorted(blob_id for blob_id in self.blobs if blob_id > after)[:limit]


class MemoryWriter:
    def __init__(self, store: MemoryStore, blob_id: str) -> None:
        self._store = store
        self._blob_id = blob_id
        self._data = bytearray()
        self._done = False

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("writer is closed")
        store = self._store
        if store.capacity and store._used() + len(self._data) + len(chunk) > store.capacity:
            raise StorageFull()
        self._data += chunk

    async def commit(self, metadata: Mapping[str, str]) -> None:
        if self._done:
            raise ValueError("writer is closed")
        self._done = True
        self._store.open_writers -= 1
        self._store.blobs[self._blob_id] = (bytes(self._data), dict(metadata))

    async def abort(self) -> None:
        if not self._done:
            self._done = True
            self._store.open_writers -= 1
            self._store.aborted += 1


class MemoryReader:
    def __init__(self, data: bytes, metadata: Mapping[str, str]) -> None:
        self._data = data
        self._info = BlobInfo(len(data), dict(metadata))
        self.closed = False

    @property
    def info(self) -> BlobInfo:
        return self._info

    async def read_at(self, offset: int, size: int) -> bytes:
        return self._data[offset:offset + size]

    def close(self) -> None:
        self.closed = True


class SequentialIds:
    """Predictable ids (valid ones are ``id-<n>``), for readable assertions."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        return f"id-{next(self._counter)}"

    def is_valid_id(self, candidate: str) -> bool:
        return candidate.startswith("id-") and candidate[3:].isdigit()


class FakeClock:
    """Virtual time. ``sleep`` parks the task until ``run`` advances time to
    its wake-up moment; time moves only when every task is parked, so the
    elapsed virtual time of a workload is exact and independent of the host."""

    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.time = start
        self._wall_offset = wall - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return self.time + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + max(0.0, seconds), next(self._seq), future))
        await future

    async def _settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, *aws: Awaitable[T]) -> list[T]:
        """Run ``aws`` concurrently to completion in virtual time."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        while True:
            await self._settle()
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            while self._sleepers and self._sleepers[0][2].cancelled():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                raise RuntimeError("deadlock: tasks are waiting but nobody sleeps on the fake clock")
            wake_at, _, future = heapq.heappop(self._sleepers)
            self.time = max(self.time, wake_at)
            future.set_result(None)


class BytesSource:
    """A request body given in fixed pieces (the ByteSource port)."""

    def __init__(self, *pieces: bytes, fail_after: int | None = None) -> None:
        self._data = bytearray(b"".join(pieces))
        self._given = 0
        self._fail_after = fail_after
        self.reads: list[int] = []

    async def read(self, max_bytes: int) -> bytes:
        if self._fail_after is not None and self._given >= self._fail_after:
            raise ConnectionResetError("client went away")
        n = min(max_bytes, len(self._data))
        if self._fail_after is not None:
            n = min(n, self._fail_after - self._given)
        chunk = bytes(self._data[:n])
        del self._data[:n]
        self._given += n
        self.reads.append(len(chunk))
        return chunk


class CollectingSink:
    """The ByteSink port into a buffer, recording how it was used."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.data = bytearray()
        self.writes: list[tuple[float, int]] = []
        self.blob_sends = 0
        self._clock = clock

    async def write(self, data: bytes) -> None:
        self.data += data
        self.writes.append((self._clock.now() if self._clock else 0.0, len(data)))

    async def send_blob(self, reader: BlobReader, offset: int, count: int) -> None:
        self.blob_sends += 1
        self.data += await reader.read_at(offset, count)
