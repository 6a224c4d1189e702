"""Uploads hashed beside the event loop (adapters/hashing.py): whatever the
chunking, the sha256 in the answer is hashlib's over the bytes, for plain
uploads and for resumable ones (appends, a restart between them, an append
cut off by the client)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import random
import threading
import time
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hashing import BLOCK, ThreadedHashing
from adapters.throttle import UNLIMITED
from domain.lifecycle import Lifecycle, Uploaded
from domain.model import StoredFile
from domain.resumable import Append, ResumableService
from domain.services import CheckService, UploadRequest, UploadService
from domain.terms import LifecyclePolicy
from ports.hashing import Hashing
from tests.fake_ledger import MemoryLedger
from tests.fake_resumable import MemoryResumableStore
from tests.fakes import FakeClock, MemoryStore, SequentialIds


@pytest.fixture(scope="module")
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    executor = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="test-hash")
    yield executor
    executor.shutdown()


class Pieces:
    """A body given exactly in ``pieces`` (a read never joins two), cut off
    with ``ConnectionResetError`` after ``fail_after`` pieces when set."""

    def __init__(self, pieces: list[bytes], fail_after: int | None = None) -> None:
        self._pieces = list(pieces)
        self._fail_after = fail_after
        self._given = 0

    async def read(self, max_bytes: int) -> bytes:
        if self._fail_after is not None and self._given >= self._fail_after:
            raise ConnectionResetError("client went away")
        if not self._pieces:
            return b""
        piece = self._pieces.pop(0)
        if len(piece) > max_bytes:
            self._pieces.insert(0, piece[max_bytes:])
            piece = piece[:max_bytes]
        self._given += 1
        return piece


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` in pieces of ``sizes`` (cycled), none empty."""
    pieces, at, i = [], 0, 0
    while at < len(data):
        size = max(1, sizes[i % len(sizes)])
        pieces.append(data[at:at + size])
        at += size
        i += 1
    return pieces


class SlowPool(concurrent.futures.ThreadPoolExecutor):
    """Each job starts late: the loop queues the next block while one is in flight."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        def late() -> Any:
            time.sleep(0.002)
            return fn(*args, **kwargs)
        return super().submit(late)


ODD = [1, 2047, 2048, 2049, BLOCK - 1, BLOCK, BLOCK + 1, 65536, 7, 300_000, 3 * BLOCK + 5]


@pytest.mark.parametrize("sizes", [[BLOCK + 1], [1, 2047, 2049], ODD, [65536], [BLOCK - 1, 2]])
def test_a_stream_gives_hashlibs_digest_whatever_the_chunking(sizes: list[int],
                                                              pool: concurrent.futures.Executor) -> None:
    data = random.Random(len(sizes)).randbytes(5 * BLOCK + 12345)

    async def scenario() -> str:
        stream = ThreadedHashing(pool).stream(hashlib.sha256())
        for piece in cut(data, sizes):
            await stream.update(piece)
        return (await stream.settle()).hexdigest()

    assert asyncio.run(scenario()) == hashlib.sha256(data).hexdigest()


def test_blocks_are_hashed_in_the_pool_in_order_and_the_tail_on_the_loop() -> None:
    seen: list[tuple[str, int]] = []

    class Recording:
        def __init__(self) -> None:
            self.inner = hashlib.sha256()

        def update(self, data: bytes) -> None:
            seen.append((threading.current_thread().name, len(data)))
            self.inner.update(data)

    data = bytes(range(256)) * 100  # 25,600 bytes
    with SlowPool(2, thread_name_prefix="slow-hash") as slow:
        async def scenario() -> Any:
            stream = ThreadedHashing(slow, block=4096).stream(Recording())  # type: ignore[arg-type]
            for piece in cut(data, [1000, 3000, 5]):
                await stream.update(piece)
            return await stream.settle()

        recording = asyncio.run(scenario())
    assert recording.inner.hexdigest() == hashlib.sha256(data).hexdigest()
    pooled = [n for name, n in seen if name.startswith("slow-hash")]
    inline = [n for name, n in seen if not name.startswith("slow-hash")]
    assert sum(pooled) >= 16384 and 0 < sum(inline) < 4096  # whole blocks in the pool, the tail inline


def uploads_with(hashing: Hashing, store: Any = None) -> tuple[Any, UploadService, CheckService]:
    store = store if store is not None else MemoryStore()
    ids, clock = SequentialIds(), FakeClock()
    files = Lifecycle(MemoryLedger(), store, clock, LifecyclePolicy())
    return store, UploadService(store, ids, clock, 0, files, hashing), CheckService(store, ids, files)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3 * 4096), st.lists(st.integers(1, 5000), min_size=1, max_size=6))
def test_a_plain_upload_answers_hashlibs_sha256(size: int, sizes: list[int]) -> None:
    data = random.Random(size).randbytes(size)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        store, uploads, _ = uploads_with(ThreadedHashing(pool, block=4096))
        stored = asyncio.run(uploads.upload(UploadRequest("f", None, None), Pieces(cut(data, sizes)), UNLIMITED)).file
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.blobs[stored.id][0] == data


def test_a_resumable_upload_answers_hashlibs_sha256_across_cut_appends_and_a_restart() -> None:
    data = random.Random(18).randbytes(40_000)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        hashing = ThreadedHashing(pool, block=4096)
        store = MemoryResumableStore()

        def service() -> ResumableService:
            _, uploads, check = uploads_with(hashing, store)
            return ResumableService(store, uploads, check, uploads._ids, FakeClock(), ttl=3600.0, max_size=0)

        async def scenario() -> StoredFile:
            tus = service()
            progress = await tus.create(UploadRequest("f.bin", None, len(data)))
            # The first append breaks off after 7 pieces: what arrived is kept, and so is its running hash.
            with pytest.raises(ConnectionResetError):
                await tus.append(progress.id, Append(0), Pieces(cut(data[:25_000], [999, 2048, 5000]), 7),
                                 UNLIMITED)
            kept = (await tus.status(progress.id)).offset  # type: ignore[union-attr]
            assert 0 < kept < 25_000 and tus.hashes.resume(progress.id, kept) is not None
            await tus.append(progress.id, Append(kept), Pieces(cut(data[kept:30_000], [4095, 1])), UNLIMITED)
            fresh = service()  # a restart: the running hash is gone, the last append re-reads the file
            fresh._ids = tus._ids
            done = await fresh.append(progress.id, Append(30_000), Pieces(cut(data[30_000:], [3333])), UNLIMITED)
            assert isinstance(done, Uploaded)  # the append that finished it
            return done.file

        stored = asyncio.run(scenario())
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
