"""The filesystem store's partial uploads: what only files show (a restart, a
crash's leftovers, the lock held by another descriptor or process)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import pytest

from adapters.storage.blobfile import CorruptBlob
from adapters.storage.filesystem import FileSystemStore
from adapters.storage.partial_record import decode_info
from adapters.storage.resumable import ORPHAN_GRACE
from ports.storage import PartialBusy, PartialNotFound

T = TypeVar("T")
META = {"request": "{}", "client_metadata": ""}


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def new_store(root: Path, fsync: bool = True) -> FileSystemStore:
    store = FileSystemStore(root, fsync=fsync)
    store.prepare()
    return store


def test_partial_uploads_survive_a_restart_and_a_crash_mid_append(tmp_path: Path) -> None:
    async def before() -> int:
        store = new_store(tmp_path)
        await store.create_partial("up", 100, 5000.0, META)
        appender = await store.open_append("up")
        await appender.write(b"kept ")
        await appender.save(100, 5000.0)
        # A crash mid-append: bytes on disk past the recorded offset, never saved.
        appender = await store.open_append("up")
        await appender.write(b"lost" * 300_000)
        await appender.read_at(0, 1)  # forces the bytes to disk
        assert os.path.getsize(tmp_path / "partials" / "up.data") > 5
        return appender._file.fd

    os.close(run(before))  # the process dies: the kernel closes its files (and drops the lock)
    (tmp_path / "partials" / "up.info.tmp").write_bytes(b'{"half":')  # a crash mid-record

    async def after() -> None:
        store = new_store(tmp_path)  # the restart: a new store on the same directory
        assert not (tmp_path / "partials" / "up.info.tmp").exists()
        info = await store.partial_info("up")
        assert (info.offset, info.length) == (5, 100)
        appender = await store.open_append("up")
        assert await appender.read_at(0, 100) == b"kept "
        await appender.write(b"more")
        saved = await appender.save(100, 5000.0)
        assert saved.offset == 9
        assert (tmp_path / "partials" / "up.data").read_bytes() == b"kept more"

    run(after)


def test_the_lock_is_per_open_file_so_another_process_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = new_store(tmp_path, fsync=False)
        await store.create_partial("up", None, 5000.0, META)
        other = os.open(tmp_path / "partials" / "up.data", os.O_RDONLY)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another worker would hold it
            with pytest.raises(PartialBusy):
                await store.open_append("up")
            with pytest.raises(PartialBusy):
                await store.remove_partial("up")
        finally:
            os.close(other)
        appender = await store.open_append("up")
        await appender.abort()
        appender = await store.open_append("up")  # released before abort returned
        await appender.save(None, 5000.0)

    run(scenario)


def test_the_janitor_removes_leftovers_of_crashes(tmp_path: Path) -> None:
    partials = tmp_path / "partials"

    async def scenario() -> None:
        store = new_store(tmp_path, fsync=False)
        await store.create_partial("published", 3, 5000.0, META)
        await store.create_partial("orphan", 3, 5000.0, META)
        await store.create_partial("young", 3, 5000.0, META)
        (partials / "published.data").unlink()  # published, crashed before the info went
        (partials / "orphan.info").unlink()  # created or removed, crashed in between
        (partials / "young.info").unlink()
        old = time.time() - ORPHAN_GRACE - 10
        os.utime(partials / "orphan.data", (old, old))
        with pytest.raises(PartialNotFound):
            await store.partial_info("published")
        assert await store.remove_expired(time.time()) == 0
        assert sorted(p.name for p in partials.iterdir()) == ["young.data"]

    run(scenario)


def test_a_record_that_is_not_ours_is_an_error_not_a_guess(tmp_path: Path) -> None:
    negative = json.dumps({"v": 1, "offset": -1, "length": None, "expires": 1, "metadata": {}}).encode()
    for raw in (b"", b"[]", b'{"v": 2}', negative):
        with pytest.raises(CorruptBlob):
            decode_info(raw)

    async def scenario() -> None:
        store = new_store(tmp_path, fsync=False)
        await store.create_partial("up", 3, 5000.0, META)
        (tmp_path / "partials" / "up.info").write_bytes(b"x" * 70_000)
        with pytest.raises(CorruptBlob):
            await store.partial_info("up")

    run(scenario)


def test_a_cancelled_open_releases_the_lock(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = new_store(tmp_path, fsync=False)
        await store.create_partial("up", 3, 5000.0, META)
        task = asyncio.ensure_future(store.open_append("up"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            try:
                appender = await store.open_append("up")
                break
            except PartialBusy:
                await asyncio.sleep(0.01)
        await appender.abort()

    run(scenario)
