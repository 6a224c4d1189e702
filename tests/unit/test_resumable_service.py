"""The resumable-upload use cases on the in-memory resumable store and on the
filesystem store: any split of a file into appends gives the same bytes and
sha256, whether the process kept its running hash or lost it (a restart,
another worker), and the file is re-read only when it was lost."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import tempfile
import weakref
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.storage.filesystem import FileSystemStore
from adapters.throttle import UNLIMITED
from domain.lifecycle import Lifecycle
from domain.lifecycle import Uploaded
from domain.model import StoredFile
from domain.resumable import Append, Progress, ResumableService, RunningHashes, partial_metadata, request_of
from domain.services import CheckService, UploadRequest, UploadService
from domain.terms import LifecyclePolicy
from tests.fake_ledger import MemoryLedger
from tests.fake_resumable import MemoryAppender, MemoryResumableStore
from tests.fakes import BytesSource, FakeClock, SequentialIds


# One per store (held as long as the store is): a "restarted" service finds its records.
LEDGERS: weakref.WeakKeyDictionary[Any, MemoryLedger] = weakref.WeakKeyDictionary()


def service_on(store: Any) -> ResumableService:
    ids, clock = SequentialIds(), FakeClock()
    files = Lifecycle(LEDGERS.setdefault(store, MemoryLedger()), store, clock, LifecyclePolicy())
    return ResumableService(store, UploadService(store, ids, clock, 0, files), CheckService(store, ids, files), ids,
                            clock, ttl=3600.0, max_size=0)


def restarted(service: ResumableService, store: Any) -> ResumableService:
    """The same store seen by a new process: no running hashes."""
    fresh = service_on(store)
    fresh._ids = service._ids  # ids stay unique across the "restart"
    return fresh


async def upload_in_pieces(store: Any, data: bytes, cuts: list[int], restarts: set[int],
                           piece: int) -> tuple[StoredFile, int]:
    """Append ``data`` cut at ``cuts`` (zero-length pieces where cuts repeat),
    starting a new service before each append in ``restarts``; the stored
    file and how many appends there were."""
    service = service_on(store)
    progress = await service.create(UploadRequest("f.bin", None, len(data)))
    bounds = [0, *sorted(cuts), len(data)]
    result: Progress | StoredFile | Uploaded = progress
    for index, (start, end) in enumerate(zip(bounds, bounds[1:])):
        if index in restarts:
            service = restarted(service, store)
        pieces = [data[i:min(i + piece, end)] for i in range(start, end, piece)]
        result = await service.append(progress.id, Append(start, end - start), BytesSource(*pieces), UNLIMITED)
    if isinstance(result, Uploaded):
        result = result.file
    assert isinstance(result, StoredFile)  # an empty last piece repeats the finished upload's last append
    return result, len(bounds) - 1


def split_strategy() -> st.SearchStrategy[tuple[bytes, list[int], set[int], int]]:
    def with_cuts(data: bytes) -> st.SearchStrategy[tuple[bytes, list[int], set[int], int]]:
        cut = st.integers(0, len(data))
        return st.tuples(st.just(data), st.lists(cut, max_size=12), st.sets(st.integers(0, 13), max_size=3),
                         st.integers(1, 4096))
    return st.binary(min_size=1, max_size=5000).flatmap(with_cuts)


@settings(max_examples=150, deadline=None)
@given(split_strategy())
def test_any_split_gives_the_same_bytes_and_sha256_in_memory(case: tuple[bytes, list[int], set[int], int]) -> None:
    data, cuts, restarts, piece = case
    store = MemoryResumableStore()
    stored, _ = asyncio.run(upload_in_pieces(store, data, cuts, restarts, piece))
    assert store.blobs[stored.id][0] == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert not store.partials


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_strategy())
def test_any_split_gives_the_same_bytes_and_sha256_on_files(case: tuple[bytes, list[int], set[int], int]) -> None:
    data, cuts, restarts, piece = case
    with tempfile.TemporaryDirectory() as root:
        store = FileSystemStore(Path(root), fsync=False)
        store.prepare()

        async def scenario() -> StoredFile:
            stored, _ = await upload_in_pieces(store, data, cuts, restarts, piece)
            reader = await store.open_reader(stored.id)
            try:
                assert await reader.read_at(0, len(data) + 1) == data
            finally:
                reader.close()
            return stored

        stored = asyncio.run(scenario())
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert list((Path(root) / "partials").iterdir()) == []


class CountingStore(MemoryResumableStore):
    """Counts the bytes read back through appenders."""

    def __init__(self) -> None:
        super().__init__()
        self.read_back = 0

    async def open_append(self, upload_id: str) -> MemoryAppender:
        appender = await super().open_append(upload_id)
        read_at = appender.read_at

        async def counting(offset: int, size: int) -> bytes:
            data = await read_at(offset, size)
            self.read_back += len(data)
            return data

        appender.read_at = counting  # type: ignore[method-assign]
        return appender


@pytest.mark.parametrize("restarts, read_back", [(set(), 0), ({3}, 4000), ({1, 2}, 4000)])
def test_the_file_is_read_back_only_when_the_running_hash_was_lost(restarts: set[int], read_back: int) -> None:
    store = CountingStore()
    data = bytes(range(256)) * 16 + b"tail"
    stored, appends = asyncio.run(upload_in_pieces(store, data[:4000], [1000, 2000, 3000], restarts, 512))
    assert appends == 4 and stored.sha256 == hashlib.sha256(data[:4000]).hexdigest()
    assert store.read_back == read_back


def test_a_store_holding_fewer_bytes_than_recorded_fails_the_final_append() -> None:
    store = MemoryResumableStore()

    async def scenario() -> None:
        service = service_on(store)
        progress = await service.create(UploadRequest(None, None, 6))
        await service.append(progress.id, Append(0, 3), BytesSource(b"abc"), UNLIMITED)
        del store.partials[progress.id].data[1:]  # lost under us
        with pytest.raises(OSError, match="fewer than"):
            await restarted(service, store).append(progress.id, Append(3, 3), BytesSource(b"def"), UNLIMITED)
        assert store.partials[progress.id].info.offset == 3 and not store.partials[progress.id].held

    asyncio.run(scenario())


def test_running_hashes_are_bounded_and_only_resume_at_their_offset() -> None:
    hashes = RunningHashes(capacity=2)
    for name in ("a", "b", "c"):
        hashes.keep(name, 1, hashlib.sha256(b"x"))
    assert len(hashes) == 2 and hashes.resume("a", 1) is None
    assert hashes.resume("b", 2) is None
    resumed = hashes.resume("b", 1)
    assert resumed is not None and resumed.hexdigest() == hashlib.sha256(b"x").hexdigest()
    resumed.update(b"y")  # a copy: the kept state is untouched
    again = hashes.resume("b", 1)
    assert again is not None and again.hexdigest() == hashlib.sha256(b"x").hexdigest()
    hashes.forget("b")
    assert hashes.resume("b", 1) is None


def test_the_creation_request_survives_in_the_partials_metadata() -> None:
    request = UploadRequest("n\u00e4me.txt", "text/plain", 12)
    assert request_of(partial_metadata(request, "filename x")) == request
    assert request_of({}) == UploadRequest(None, None, None)  # a record older than its fields

    @dataclasses.dataclass(frozen=True)
    class Later(UploadRequest):
        max_downloads: int | None = 3

    assert partial_metadata(Later("a", None, 1), "")["request"].endswith('"max_downloads": 3}')
