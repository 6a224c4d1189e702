"""Partial uploads on the local file system: the ``Resumable`` capability of
``FileSystemStore``.

Layout under ``<root>/partials/``::

    <id>.data       the bytes received so far (after a crash mid-append it may
                    run past the recorded offset: that tail is cut off by the
                    next append)
    <id>.info       the record (``partial_record``): offset, length, expiry,
                    metadata; replaced whole by a rename (written to
                    <id>.info.tmp first)

One append at a time per upload, across worker processes: the appender holds
``flock(LOCK_EX | LOCK_NB)`` on the data file (taken in a pool thread, never
waiting: a busy upload is ``PartialBusy`` at once; the kernel drops the lock
of a process that dies). Having the lock, it checks that the path still names
the file it locked, since a publish or a removal may have renamed or unlinked
it meanwhile.

Atomic appends: the appender cuts the data file to the recorded offset and
writes the chunk there; ``save`` fsyncs the data (with ``--fsync always``),
writes and fsyncs the new info beside it and renames it over the old one, then
fsyncs the directory. A crash before the rename leaves the old info: the old
offset, whose bytes are intact. This writes every byte once; writing each
chunk to a temporary file and copying it after would be as atomic at twice
the writing.

Publishing (``commit``) is ``FileBlobWriter``'s: the blob's metadata and
trailer go after the bytes, the file is fsynced and renamed into ``objects/``,
then the info is removed (an info whose data is gone is a leftover: not found,
and removed by the janitor). Termination removes the info, then the data. A
creation writes the data file, then the info: data without info is a creation
or a removal in progress, or a leftover once older than ``ORPHAN_GRACE``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import fcntl
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from adapters.storage.blobfile import CorruptBlob, fsync_dir, start_writeback, write_all
from adapters.storage.handles import BlobHome, FileBlobWriter
from adapters.storage.partial_record import MAX_INFO, decode_info, encode_info
from adapters.storage.threads import ThreadedFd
from ports.storage import PartialBusy, PartialInfo, PartialNotFound, StorageFull

log = logging.getLogger("uds.storage")

T = TypeVar("T")
ORPHAN_GRACE = 3600.0  # seconds after which a data file without info is a crash's leftover
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")  # no dot: names split at the first one


def _checked(upload_id: str) -> str:
    # Ids are validated by the domain; defence in depth: an id never becomes
    # a path outside the directory.
    if not SAFE_ID.match(upload_id):
        raise PartialNotFound(upload_id)
    return upload_id


class FilePartialAppender(FileBlobWriter):
    """One append to a partial upload, holding its lock (the data file's
    descriptor) until ``save``, ``commit`` or ``abort``. Writing and
    publishing are ``FileBlobWriter``'s, on the data file positioned at the
    recorded offset."""

    def __init__(self, partials: PartialFiles, upload_id: str, file: ThreadedFd, info: PartialInfo) -> None:
        super().__init__(partials.home, upload_id, Path(partials.data_path(upload_id)), file)
        self._partials = partials
        self._info = info
        self._written = self._written_back = info.offset  # FileBlobWriter counts file offsets

    @property
    def info(self) -> PartialInfo:
        return self._info

    def _write_block(self, block: list[bytes | bytearray]) -> None:
        super()._write_block(block)
        # Every append ends in an fsync before its answer: start writeback at
        # each block, not every WRITEBACK_STEP, so that the disk works while
        # the chunk still arrives and the fsync finds little left to write.
        if self._store.durable and self._written > self._written_back:
            start_writeback(self._file.fd, self._written_back, self._written - self._written_back)
            self._written_back = self._written

    async def read_at(self, offset: int, size: int) -> bytes:
        if self._done:
            raise ValueError("appender is closed")
        await self._file.finish()  # the block being written, if any (see FileBlobWriter.write)
        if self._pending:
            await self._file.run(self._write_block, self._take_block())
        size = max(0, min(size, self._written - offset))
        if size == 0:
            return b""
        return await self._file.run(os.pread, self._file.fd, size, offset, executor=self._store.wait_pool)

    async def save(self, length: int | None, expires: float) -> PartialInfo:
        if self._done:
            raise ValueError("appender is closed")
        block = self._take_block()
        try:
            await self._file.finish()
            if block:
                await self._file.run(self._write_block, block)
            pool = self._store.wait_pool if self._store.durable else None  # fsync waits outside the GIL
            info = await self._file.run(self._record, length, expires, executor=pool)
        except BaseException:
            await self.abort()
            raise
        self._done = True
        self._file.close()
        return info

    def _record(self, length: int | None, expires: float) -> PartialInfo:
        if self._store.durable:
            os.fsync(self._file.fd)
        info = PartialInfo(self._written, length, expires, self._info.metadata)
        self._partials.write_info(self._blob_id, info)
        # Unlocked here, not when the descriptor is closed (in the background):
        # the client's next append may come as soon as the answer is out.
        fcntl.flock(self._file.fd, fcntl.LOCK_UN)
        return info

    async def abort(self) -> None:
        """As ``FileBlobWriter.abort``, but the upload is released before it
        returns (once a job still running for a cancelled caller has ended),
        so that the client's retry finds it free."""
        if not self._done:
            await self._file.idle()
            try:
                await self._file.run(fcntl.flock, self._file.fd, fcntl.LOCK_UN)
            except (OSError, ValueError, RuntimeError):
                pass  # closing the descriptor releases it anyway
        await super().abort()

    def _publish(self) -> None:
        super()._publish()
        self._partials.unlink(self._partials.info_path(self._blob_id))

    def _discard(self) -> None:
        """Nothing to delete: bytes past the recorded offset are cut off by the
        next append. If the blob was published before the abort was seen, the
        file goes back to being the partial upload's data."""
        if self._published:
            try:
                os.rename(self._final_path, self._tmp_path)
            except OSError as exc:
                log.warning("could not take back %s: %s", self._final_path, exc)


class PartialFiles:
    """The partial uploads of one ``FileSystemStore`` (see the module docstring)."""

    def __init__(self, home: BlobHome, directory: Path, writes: concurrent.futures.Executor,
                 waits: concurrent.futures.Executor) -> None:
        self.home = home
        self._dir = str(directory)
        self._writes = writes
        self._waits = waits

    def prepare(self) -> int:
        """Create the directory and remove the info files a crash left half
        written; how many. Synchronous: at start-up, before serving."""
        os.makedirs(self._dir, exist_ok=True)
        removed = 0
        for entry in os.scandir(self._dir):
            if entry.name.endswith(".tmp"):
                removed += self.unlink(entry.path)
        return removed

    def data_path(self, upload_id: str) -> str:
        return f"{self._dir}/{_checked(upload_id)}.data"

    def info_path(self, upload_id: str) -> str:
        return f"{self._dir}/{_checked(upload_id)}.info"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._waits, fn, *args)

    # -- the capability (ids checked by the store) ------------------------------------

    async def create(self, upload_id: str, length: int | None, expires: float,
                     metadata: Mapping[str, str]) -> PartialInfo:
        return await self._run(self._create, upload_id, PartialInfo(0, length, expires, dict(metadata)))

    async def info(self, upload_id: str) -> PartialInfo:
        return await self._run(self._info_if_data, upload_id)

    async def open_append(self, upload_id: str) -> FilePartialAppender:
        future = self._waits.submit(self._lock, upload_id, True)
        try:
            fd, info = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # The job may still take the lock: release it once done.
            future.add_done_callback(_close_locked)
            raise
        return FilePartialAppender(self, upload_id, ThreadedFd(fd, self._writes), info)

    async def remove(self, upload_id: str) -> None:
        await self._run(self._remove, upload_id)

    async def remove_expired(self, now: float) -> int:
        return await self._run(self._remove_expired, now)

    # -- in pool threads -----------------------------------------------------------------

    def unlink(self, path: str) -> int:
        try:
            os.unlink(path)
            return 1
        except FileNotFoundError:
            return 0

    def write_info(self, upload_id: str, info: PartialInfo) -> None:
        """Replace the info file atomically (the caller holds the upload)."""
        tmp = self.info_path(upload_id) + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
        try:
            write_all(fd, [encode_info(info)])
            if self.home.durable:
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            self.unlink(tmp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull() from exc
            raise
        os.close(fd)
        os.rename(tmp, self.info_path(upload_id))
        if self.home.durable:
            fsync_dir(self._dir)

    def _create(self, upload_id: str, info: PartialInfo) -> PartialInfo:
        if info.length:
            self.home.ensure_room(info.length)
        try:
            os.close(os.open(self.data_path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull() from exc
            raise
        try:
            self.write_info(upload_id, info)
        except BaseException:
            self.unlink(self.data_path(upload_id))
            raise
        return info

    def _read_info(self, upload_id: str) -> PartialInfo:
        try:
            with open(self.info_path(upload_id), "rb") as file:
                raw = file.read(MAX_INFO + 1)
        except FileNotFoundError:
            raise PartialNotFound(upload_id) from None
        if len(raw) > MAX_INFO:
            raise CorruptBlob(f"partial upload record of {upload_id} is too large")
        return decode_info(raw)

    def _info_if_data(self, upload_id: str) -> PartialInfo:
        info = self._read_info(upload_id)
        if not os.path.exists(self.data_path(upload_id)):
            raise PartialNotFound(upload_id)  # published or removed; the info is a leftover
        return info

    def _lock(self, upload_id: str, for_append: bool) -> tuple[int, PartialInfo]:
        """Open and lock the data file without waiting; with ``for_append``,
        cut it to the recorded offset and position it there."""
        path = self.data_path(upload_id)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise PartialNotFound(upload_id) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartialBusy(upload_id) from None
            held = os.fstat(fd)
            try:
                named = os.stat(path)
            except FileNotFoundError:
                raise PartialNotFound(upload_id) from None
            if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
                raise PartialNotFound(upload_id)
            info = self._read_info(upload_id)
            if for_append:
                if held.st_size < info.offset:
                    raise CorruptBlob(f"partial upload {upload_id} holds fewer bytes than recorded")
                if held.st_size > info.offset:
                    os.ftruncate(fd, info.offset)  # the tail of an append that was not saved
                os.lseek(fd, info.offset, os.SEEK_SET)
            return fd, info
        except BaseException:
            os.close(fd)
            raise

    def _remove(self, upload_id: str) -> None:
        fd, _ = self._lock(upload_id, False)
        try:
            self.unlink(self.info_path(upload_id))
            self.unlink(self.data_path(upload_id))
            if self.home.durable:
                fsync_dir(self._dir)
        finally:
            os.close(fd)

    def _remove_expired(self, now: float) -> int:
        removed = 0
        with os.scandir(self._dir) as entries:
            names = {entry.name: entry for entry in entries}
        for name, entry in names.items():
            upload_id, _, kind = name.partition(".")
            try:
                if kind == "info" and upload_id + ".data" not in names:
                    self.unlink(entry.path)  # its upload was published or removed
                elif kind == "info" and self._read_info(upload_id).expires <= now:
                    self._remove(upload_id)
                    removed += 1
                elif (kind == "data" and upload_id + ".info" not in names
                      and entry.stat().st_mtime < now - ORPHAN_GRACE):
                    fd = self._lock_orphan(entry.path)
                    try:
                        self.unlink(entry.path)
                    finally:
                        os.close(fd)
            except (PartialBusy, PartialNotFound, FileNotFoundError):
                continue  # in use, or gone meanwhile
            except OSError as exc:
                log.warning("could not expire %s: %s", entry.path, exc)
        return removed

    @staticmethod
    def _lock_orphan(path: str) -> int:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PartialBusy(path) from None
        return fd


def _close_locked(future: concurrent.futures.Future[tuple[int, PartialInfo]]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result()[0])
