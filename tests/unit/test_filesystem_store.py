"""What the filesystem store promises beyond the shared contract."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from adapters.storage.filesystem import MAGIC, TRAILER, FileSystemStore, StorageUnavailable
from ports.storage import BlobNotFound, StorageFull


async def written(store: FileSystemStore) -> None:
    """Until the blocks handed to the store's write pool are written (one
    thread: a job submitted now runs after them)."""
    await asyncio.wrap_future(store._writes.submit(lambda: None))


def test_layout_is_sharded_and_single_file(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    store.prepare()

    data = b"d" * (1 << 20)  # one whole write block: the temporary file is created when it is written

    async def scenario() -> None:
        writer = await store.open_writer("abcdef", None)
        await writer.write(data[:10])
        assert list((tmp_path / "tmp").iterdir()) == []  # nothing on disk yet: created by the first block
        await writer.write(data[10:])  # hands the block to the write pool, without waiting for it
        await written(store)
        assert len(list((tmp_path / "tmp").iterdir())) == 1
        await writer.commit({"name": "n"})

    asyncio.run(scenario())
    blob = tmp_path / "objects" / "ab" / "abcdef"
    raw = blob.read_bytes()
    assert raw.startswith(data) and raw.endswith(TRAILER.pack(MAGIC, len(raw) - len(data) - TRAILER.size))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_prepare_removes_leftover_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir(parents=True)
    (tmp_path / "tmp" / "abc.1234.part").write_bytes(b"half an upload")
    store = FileSystemStore(tmp_path)
    assert store.prepare() == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_uploads_of_one_dead_process_are_removed(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    store.prepare()
    for name in ("a.123.part", "b.1234.part", "c.23.part", "d.123.part"):
        (tmp_path / "tmp" / name).write_bytes(b"half an upload")

    async def scenario() -> None:
        writer = await store.open_writer("mine", None)
        await writer.write(b"m" * (1 << 20))  # handed to the write pool: the temporary file exists once written
        await written(store)
        assert [p.name for p in (tmp_path / "tmp").glob("mine.*")] == [f"mine.{os.getpid()}.part"]
        await writer.abort()

    asyncio.run(scenario())
    assert store.remove_uploads_of(123) == 2
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("mine")) == [
        "b.1234.part", "c.23.part"]
    assert store.remove_uploads_of(999_999) == 0


def test_unusable_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageUnavailable) as caught:
        FileSystemStore(blocker / "store").prepare()
    assert "not usable" in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_read_only_directory_is_reported(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    tmp_path.chmod(0o500)
    with pytest.raises(StorageUnavailable):
        FileSystemStore(tmp_path / "store").prepare()


@pytest.mark.parametrize("blob_id", ["../x", "a/b", "..", ".hidden", "a\x00b", "x" * 200, ""])
def test_ids_that_are_not_plain_names_never_touch_the_disk(tmp_path: Path, blob_id: str) -> None:
    store = FileSystemStore(tmp_path / "s")
    store.prepare()

    async def scenario() -> None:
        with pytest.raises(BlobNotFound):
            await store.stat(blob_id)
        with pytest.raises(BlobNotFound):
            await store.open_writer(blob_id, None)

    asyncio.run(scenario())


def test_corrupt_blobs_are_errors_not_data(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    store.prepare()
    (tmp_path / "objects" / "ba").mkdir()
    (tmp_path / "objects" / "ba" / "bad").write_bytes(b"no trailer here at all")
    (tmp_path / "objects" / "ba" / "bad2").write_bytes(b"{" + TRAILER.pack(MAGIC, 1))
    (tmp_path / "objects" / "ba" / "bad3").write_bytes(b"x")

    async def scenario() -> None:
        for name in ("bad", "bad2", "bad3"):
            with pytest.raises(OSError):
                await store.stat(name)

    asyncio.run(scenario())


def test_large_metadata_beyond_one_tail_read(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path)
    store.prepare()
    metadata = {"name": "n" * 10_000}

    async def scenario() -> None:
        writer = await store.open_writer("big", None)
        await writer.write(b"abc")
        await writer.commit(metadata)
        info = await store.stat("big")
        assert info.size == 3 and dict(info.metadata) == metadata

    asyncio.run(scenario())


def test_min_free_space_refuses_before_writing(tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    store = FileSystemStore(tmp_path, min_free_space=free // 2)
    store.prepare()

    async def scenario() -> None:
        with pytest.raises(StorageFull):
            await store.open_writer("x1", free)  # would cross the floor: refused up front
        writer = await store.open_writer("x2", 10)
        await writer.write(b"ok")
        await writer.commit({})

    asyncio.run(scenario())
    assert list((tmp_path / "tmp").iterdir()) == []


def test_reader_exposes_a_descriptor_for_sendfile(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path, fsync=False)
    store.prepare()

    async def scenario() -> None:
        writer = await store.open_writer("fd1", None)
        await writer.write(b"0123456789")
        await writer.commit({})
        reader = await store.open_reader("fd1")
        fd = reader.fileno()
        assert fd is not None and os.pread(fd, 4, 3) == b"3456"
        reader.close()

    asyncio.run(scenario())


def test_abort_while_a_write_is_in_flight_closes_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The write is held in its pool thread until the test releases it, then
    # the test waits for the pools themselves to finish (no polling).
    real_writev = os.writev
    writing, release = threading.Event(), threading.Event()

    def held_writev(fd: int, buffers: list[bytes]) -> int:
        writing.set()
        assert release.wait(10)
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", held_writev)
    writes, waits = ThreadPoolExecutor(1), ThreadPoolExecutor(4)
    store = FileSystemStore(tmp_path, writes=writes, waits=waits)
    store.prepare()

    async def scenario() -> None:
        writer = await store.open_writer("race", None)
        await writer.write(b"x" * (4 << 20))  # handed to the pool: returns while the block is written
        task = asyncio.ensure_future(writer.write(b"y" * (4 << 20)))  # waits for the block before it
        assert await asyncio.get_running_loop().run_in_executor(None, writing.wait, 10)
        await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        await writer.abort()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(scenario())
        assert len(list((tmp_path / "tmp").iterdir())) == 1  # still being written: closed after the write
    finally:
        release.set()
        writes.shutdown(wait=True)
        waits.shutdown(wait=True)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_metadata_cache_never_serves_a_stale_or_removed_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.storage.filesystem as filesystem

    monkeypatch.setattr(filesystem, "INFO_CACHE_SIZE", 3)
    store = FileSystemStore(tmp_path, fsync=False)
    store.prepare()

    async def put(blob_id: str, data: bytes, name: str) -> None:
        writer = await store.open_writer(blob_id, None)
        await writer.write(data)
        await writer.commit({"name": name})

    async def scenario() -> None:
        await put("cached", b"one", "first")
        assert (await store.stat("cached")).metadata["name"] == "first"
        assert (await store.stat("cached")).metadata["name"] == "first"  # served from the cache
        await put("cached", b"second!", "second")  # replaced under the same id: a new inode
        info = await store.stat("cached")
        assert info.metadata["name"] == "second" and info.size == 7
        reader = await store.open_reader("cached")
        assert reader.info.metadata["name"] == "second"
        reader.close()
        path = tmp_path / "objects" / "ca" / "cached"
        raw = path.read_bytes()
        path.write_bytes(b"X" + raw[1:] + b"garbage")  # modified in place: size and mtime change
        with pytest.raises(OSError):
            await store.stat("cached")
        path.unlink()
        with pytest.raises(BlobNotFound):
            await store.stat("cached")
        for i in range(10):
            await put(f"many{i}", b"x", str(i))
            await store.stat(f"many{i}")
        assert len(store._info_cache) <= 3
        assert (await store.stat("many0")).metadata["name"] == "0"  # evicted entries are parsed again

    asyncio.run(scenario())


def test_write_all_resumes_after_short_writev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.storage.blobfile import write_all

    real_writev = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        # Write at most 7 bytes per call, splitting pieces at odd places.
        calls.append(len(buffers))
        first = bytes(buffers[0])[:7]
        return real_writev(fd, [first])

    monkeypatch.setattr(os, "writev", short_writev)
    pieces = [b"hello ", b"", b"wonderful ", b"world" * 5]
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        write_all(fd, pieces)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(pieces)
    assert len(calls) > 5


@pytest.mark.parametrize("fsync", [True, False])
def test_writeback_starts_every_step_while_the_body_arrives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool) -> None:
    import adapters.storage.handles as handles

    hints: list[tuple[int, int, int]] = []
    monkeypatch.setattr(handles, "WRITEBACK_STEP", 3 << 20)
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, length, advice: hints.append((offset, length, advice)))
    store = FileSystemStore(tmp_path, fsync=fsync)
    store.prepare()
    block = os.urandom(1 << 20)

    async def scenario() -> None:
        writer = await store.open_writer("abcdef", None)
        for _ in range(7):
            await writer.write(block)
        await writer.commit({"name": "n"})

    asyncio.run(scenario())
    if fsync:  # 1 MiB blocks: hinted after the third and the sixth, the rest left to the final fsync
        assert hints == [(0, 3 << 20, os.POSIX_FADV_DONTNEED), (3 << 20, 3 << 20, os.POSIX_FADV_DONTNEED)]
    else:  # without fsync, writeback is the kernel's business
        assert hints == []
    assert (tmp_path / "objects" / "ab" / "abcdef").read_bytes().startswith(block * 7)


def test_tiny_pieces_are_joined_into_few_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunked upload of 2-byte chunks hands the writer one piece per chunk:
    # they must not reach the (shared, single) write thread as 262,000 pieces.
    real_writev = os.writev
    calls: list[int] = []

    def counting_writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", counting_writev)
    store = FileSystemStore(tmp_path, fsync=False)
    store.prepare()
    big = os.urandom(100_000)

    async def scenario() -> None:
        writer = await store.open_writer("tiny", None)
        for _ in range(262_000):
            await writer.write(b"XY")
        await writer.write(big)  # a large piece between small ones is kept as it is
        await writer.write(b"Z")
        await writer.commit({"name": "n"})

    asyncio.run(scenario())
    assert len(calls) <= 2 and max(calls) <= 8, calls
    raw = (tmp_path / "objects" / "ti" / "tiny").read_bytes()
    assert raw.startswith(b"XY" * 262_000 + big + b"Z")


def test_write_all_is_linear_in_the_number_of_pieces(tmp_path: Path) -> None:
    from adapters.storage.blobfile import write_all

    def best_time(count: int) -> float:
        pieces = [b"XY"] * count
        best = float("inf")
        for _ in range(3):
            fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                start = time.perf_counter()
                write_all(fd, pieces)
                best = min(best, time.perf_counter() - start)
            finally:
                os.close(fd)
        assert (tmp_path / "out").stat().st_size == 2 * count
        return best

    small, large = best_time(65_500), best_time(262_000)
    print(f"write_all: {small:.3f} s for 65,500 pieces, {large:.3f} s for 262,000")
    assert large / small < 8, (small, large)  # linear: about 4; quadratic: about 16


@pytest.mark.parametrize("stop", ["cancel", "abort"])
@pytest.mark.parametrize("fsync", [True, False])
def test_a_commit_stopped_while_its_job_runs_publishes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool, stop: str) -> None:
    # The shutdown timeout cancels the task of an upload whose commit job is
    # running in a pool thread (or another task aborts the writer): the job
    # must not publish the blob once the writer is aborted, or must take it
    # back, and the commit must not report success.
    real_fsync, real_rename = os.fsync, os.rename
    entered, release = threading.Event(), threading.Event()

    def held(real: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            entered.set()
            assert release.wait(10)
            real(*args)
        return call

    if fsync:  # held in the fsync before the rename
        monkeypatch.setattr(os, "fsync", held(real_fsync))
    else:  # no fsync: held in the rename itself, the commit's last step
        monkeypatch.setattr(os, "rename", held(real_rename))
    writes, waits = ThreadPoolExecutor(1), ThreadPoolExecutor(4)
    store = FileSystemStore(tmp_path, fsync=fsync, writes=writes, waits=waits)
    store.prepare()

    async def scenario() -> None:
        writer = await store.open_writer("cancelled", None)
        await writer.write(b"data")
        task = asyncio.ensure_future(writer.commit({"name": "n"}))
        assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        if stop == "cancel":
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await writer.abort()
            release.set()
            with pytest.raises(Exception):
                await task

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        writes.shutdown(wait=True)
        waits.shutdown(wait=True)

    async def stat() -> None:
        with pytest.raises(BlobNotFound):
            await store.stat("cancelled")

    store = FileSystemStore(tmp_path, fsync=fsync)
    asyncio.run(stat())
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "objects").rglob("cancelled")) == []


def test_no_file_system_call_runs_on_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A slow disk must stall one request, not the loop that serves everyone:
    # every call that touches the store's files runs in a pool thread.
    store = FileSystemStore(tmp_path / "s", min_free_space=1)
    store.prepare()
    root = str(tmp_path / "s")
    ours: set[int] = set()  # descriptors of the store's files
    on_loop: list[str] = []

    def spy(name: str) -> None:
        real = getattr(os, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            mine = isinstance(first, int) and first in ours or str(first).startswith(root)
            if mine and threading.current_thread() is threading.main_thread():
                on_loop.append(name)
            result = real(*args, **kwargs)
            if name == "open" and mine:
                ours.add(result)
            return result

        monkeypatch.setattr(os, name, call)

    for name in ("open", "stat", "lstat", "fstat", "pread", "close", "unlink", "rename", "statvfs", "fsync",
                 "writev", "mkdir"):
        spy(name)

    async def scenario() -> None:
        writer = await store.open_writer("blob1", 10)
        await writer.write(b"x" * (1 << 20))
        await writer.commit({"name": "n"})
        store._info_cache.clear()
        assert (await store.stat("blob1")).size == 1 << 20  # parsed
        assert (await store.stat("blob1")).size == 1 << 20  # from the cache
        reader = await store.open_reader("blob1")
        assert await reader.read_at(0, 3) == b"xxx"
        reader.close()
        with pytest.raises(BlobNotFound):
            await store.open_reader("nothing")
        await store.delete("blob1")
        with pytest.raises(BlobNotFound):
            await store.stat("blob1")
        aborted = await store.open_writer("blob2", None)
        await aborted.write(b"y" * (1 << 20))  # the temporary file exists now
        await aborted.abort()
        store._free_at = -1e9  # the free-space figure is out of date
        await (await store.open_writer("blob3", None)).abort()

    asyncio.run(scenario())
    for pool in (store._writes, store._waits, store._lookups):
        pool.shutdown(wait=True)
    assert on_loop == []
    assert list((tmp_path / "s" / "tmp").iterdir()) == []


def test_health_reports_an_unwritable_directory_and_the_free_space_floor(tmp_path: Path) -> None:
    store = FileSystemStore(tmp_path / "ok")
    store.prepare()
    assert asyncio.run(store.health()) is None
    assert not [p for p in (tmp_path / "ok" / "tmp").iterdir()]  # the probe is removed
    floor = FileSystemStore(tmp_path / "floor", min_free_space=1 << 60)
    floor.prepare()
    assert "below the floor" in (asyncio.run(floor.health()) or "")
    gone = FileSystemStore(tmp_path / "gone")
    gone.prepare()
    (tmp_path / "gone" / "tmp").rmdir()  # root writes anywhere: a missing directory stands for a broken one
    assert (asyncio.run(gone.health()) or "").startswith("storage is not writable")


def test_overlapping_health_probes_do_not_remove_each_others_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent health checks (two hostile clients and a load balancer at
    once) ran the probe under one name per process: one probe's unlink came
    first and the other reported a healthy store as not writable (ENOENT).
    Here a second probe runs in the middle of the first one, as another
    thread would."""
    store = FileSystemStore(tmp_path / "s")
    store.prepare()
    inner: list[str | None] = []
    real_close = os.close

    def close_then_probe_again(fd: int) -> None:
        real_close(fd)
        if not inner:
            inner.append("running")
            inner[0] = store._health()

    monkeypatch.setattr(os, "close", close_then_probe_again)
    outer = store._health()
    monkeypatch.setattr(os, "close", real_close)
    assert inner == [None] and outer is None
    assert list((tmp_path / "s" / "tmp").iterdir()) == []


def test_an_error_of_a_block_written_meanwhile_surfaces_at_the_next_call(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A block is written while the next one arrives: its failure (a full
    disk) comes out of the next ``write``, or of ``commit``, and nothing of
    the upload stays."""
    def full(fd: int, buffers: list[bytes]) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", full)
    store = FileSystemStore(tmp_path, fsync=False)
    store.prepare()

    async def scenario(then: str) -> None:
        writer = await store.open_writer(f"full{then}", None)
        await writer.write(b"x" * (1 << 20))  # handed to the pool: no error yet
        with pytest.raises(StorageFull):
            if then == "write":
                await writer.write(b"y" * (1 << 20))
            else:
                await writer.commit({})
        await writer.abort()
        await written(store)  # the temporary file is removed in the pool, after the descriptor is closed

    for then in ("write", "commit"):
        asyncio.run(scenario(then))
    assert list((tmp_path / "tmp").iterdir()) == [] and list((tmp_path / "objects").rglob("full*")) == []


class CountingPool(ThreadPoolExecutor):
    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.jobs = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


def test_a_small_durable_upload_is_written_synced_and_published_in_one_job(tmp_path: Path) -> None:
    """Every thread round trip costs the loop a wake-up: a body that fits in
    one block takes one job of the wait pool (write, fsync, rename, fsync of
    the directory), and the write pool only closes the file."""
    writes, waits = CountingPool(1), CountingPool(4)
    store = FileSystemStore(tmp_path, writes=writes, waits=waits)
    store.prepare()

    async def scenario() -> None:
        writer = await store.open_writer("small1", 5)
        await writer.write(b"small")
        await writer.commit({"name": "n"})
        await written(store)

    try:
        asyncio.run(scenario())
        assert (writes.jobs, waits.jobs) == (2, 1)  # the close, and ``written``'s own; the whole commit
    finally:
        writes.shutdown()
        waits.shutdown()
    assert (tmp_path / "objects" / "sm" / "small1").read_bytes().startswith(b"small")
