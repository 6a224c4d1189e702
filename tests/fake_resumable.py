"""An in-memory store with the ``Resumable`` capability: ``MemoryStore`` plus
partial uploads in a dict, for domain, in-process HTTP and contract tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ports.storage import PartialBusy, PartialInfo, PartialNotFound, StorageFull
from tests.fakes import MemoryStore


@dataclass
class Partial:
    data: bytearray
    info: PartialInfo
    held: bool = False


class MemoryResumableStore(MemoryStore):
    """``capacity`` counts committed blobs and partial uploads' bytes."""

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)
        self.partials: dict[str, Partial] = {}

    def _used(self) -> int:
        return super()._used() + sum(len(p.data) for p in self.partials.values())

    async def create_partial(self, upload_id: str, length: int | None, expires: float,
                             metadata: Mapping[str, str]) -> PartialInfo:
        if self.capacity and self._used() + (length or 0) > self.capacity:
            raise StorageFull()
        info = PartialInfo(0, length, expires, dict(metadata))
        self.partials[upload_id] = Partial(bytearray(), info)
        return info

    def _get(self, upload_id: str) -> Partial:
        partial = self.partials.get(upload_id)
        if partial is None:
            raise PartialNotFound(upload_id)
        return partial

    async def partial_info(self, upload_id: str) -> PartialInfo:
        return self._get(upload_id).info

    async def open_append(self, upload_id: str) -> MemoryAppender:
        partial = self._get(upload_id)
        if partial.held:
            raise PartialBusy(upload_id)
        partial.held = True
        return MemoryAppender(self, upload_id, partial)

    async def remove_partial(self, upload_id: str) -> None:
        if self._get(upload_id).held:
            raise PartialBusy(upload_id)
        del self.partials[upload_id]

    async def remove_expired(self, now: float) -> int:
        expired = [key for key, p in self.partials.items() if p.info.expires <= now and not p.held]
        for key in expired:
            del self.partials[key]
        return len(expired)


class MemoryAppender:
    def __init__(self, store: MemoryResumableStore, upload_id: str, partial: Partial) -> None:
        self._store = store
        self._id = upload_id
        self._partial = partial
        self._chunk = bytearray()
        self._done = False

    @property
    def info(self) -> PartialInfo:
        return self._partial.info

    def _release(self) -> None:
        self._done = True
        self._partial.held = False

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("appender is closed")
        store = self._store
        if store.capacity and store._used() + len(self._chunk) + len(chunk) > store.capacity:
            raise StorageFull()
        self._chunk += chunk

    async def read_at(self, offset: int, size: int) -> bytes:
        return bytes((self._partial.data + self._chunk)[offset:offset + size])

    async def save(self, length: int | None, expires: float) -> PartialInfo:
        if self._done:
            raise ValueError("appender is closed")
        partial = self._partial
        partial.data += self._chunk
        partial.info = PartialInfo(len(partial.data), length, expires, partial.info.metadata)
        self._release()
        return partial.info

    async def commit(self, metadata: Mapping[str, str]) -> None:
        if self._done:
            raise ValueError("appender is closed")
        self._store.blobs[self._id] = (bytes(self._partial.data + self._chunk), dict(metadata))
        del self._store.partials[self._id]
        self._release()

    async def abort(self) -> None:
        if not self._done:
            self._release()
