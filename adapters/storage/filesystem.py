"""A blob store on a local file system.

Layout under the root directory::

    tmp/<id>.<pid>.part         uploads in progress in process <pid> (removed at
                                start-up, or when that worker process dies)
    objects/<id[:2]>/<id>       committed blobs
    partials/<id>.data, .info   resumable uploads in progress (the ``Resumable``
                                capability: see ``resumable.py``)

A committed blob is one file: the data, then the metadata as UTF-8 JSON, then
a 16-byte trailer (8-byte magic, 8-byte big-endian metadata length). Data and
metadata therefore become visible together, with one ``rename``; ``stat`` is
one ``open`` + ``pread`` of the tail, never a scan; and a download is a plain
``sendfile`` of bytes ``0..size`` of the file.

Durability (``fsync=True``): the temporary file is fsynced before the rename,
and the shard directory after it, so a blob whose commit returned survives a
power cut. A commit that fails, or is cancelled, leaves nothing visible.

The store makes no file-system call on the event loop (a slow disk would
stall every connection): writes, fsyncs and reads run in thread pools, and
the short calls of checks, downloads and deletes (stat, open, unlink) in
batches, one thread round trip per turn of the loop (see ``threads.Offload``).
Only the transport's ``sendfile`` of a reader's descriptor reads on the loop.

The file format is in ``blobfile``, the writer and reader in ``handles``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import re
import secrets
import stat
import threading
import time
from pathlib import Path
from typing import Iterator, Mapping

from adapters.storage.blobfile import MAGIC, TRAILER, CorruptBlob, fsync_dir, read_info
from adapters.storage.handles import FileBlobReader, FileBlobWriter, WriterAborted
from adapters.storage.resumable import FilePartialAppender, PartialFiles
from adapters.storage.threads import Offload, ThreadedFd
from ports.storage import BlobInfo, BlobNotFound, PartialInfo, StorageFull

__all__ = ["FileSystemStore", "StorageUnavailable", "FileBlobWriter", "FileBlobReader", "WriterAborted",
           "CorruptBlob", "MAGIC", "TRAILER"]

log = logging.getLogger("uds.storage")

FREE_SPACE_MAX_AGE = 0.25  # seconds a statvfs() result serves the up-front check of new uploads
INFO_CACHE_SIZE = 4096  # parsed metadata of the most recently used blobs (a few hundred bytes each)
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


class StorageUnavailable(Exception):
    """The storage directory cannot be used (missing, not writable, ...)."""


def _check_id(blob_id: str) -> str:
    # Ids are validated by the domain; this is defence in depth so that no
    # caller can ever turn an id into a path outside the store.
    if not SAFE_ID.match(blob_id):
        raise BlobNotFound(blob_id)
    return blob_id


class FileSystemStore:
    def __init__(
        self,
        root: Path,
        *,
        fsync: bool = True,
        min_free_space: int = 0,
        writes: concurrent.futures.Executor | None = None,
        waits: concurrent.futures.Executor | None = None,
        lookups: concurrent.futures.Executor | None = None,
    ) -> None:
        """``writes`` runs file writes and renames: short jobs that hold the
        interpreter lock between syscalls, so one thread is best (more threads
        on a busy core fight the event loop for the lock and all go slower).
        ``waits`` runs calls that mostly wait outside the lock: fsync of files
        and directories, and reads that may go to the disk; many threads, so
        concurrent uploads' fsyncs share the file system's journal commits.
        ``lookups`` runs the short calls of checks, downloads and deletes
        (stat, open, unlink; in batches, see ``Offload``): threads of their
        own, so that they never queue behind uploads' fsyncs."""
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._objects_dir = str(self._objects)
        self._info_cache: dict[str, tuple[tuple[int, int, int, int], BlobInfo]] = {}
        self._shards: set[str] = set()  # shard directories known to exist (filled by prepare)
        self._free_cache = 0
        self._free_at = -FREE_SPACE_MAX_AGE - 1.0
        self._tmp = self.root / "tmp"
        self._fsync = fsync
        self._min_free = min_free_space
        self._writes = writes or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="uds-write")
        self._waits = waits or concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="uds-wait")
        self._lookups = lookups or concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="uds-lookup")
        self._offload = Offload(self._lookups)
        self._info_lock = threading.Lock()  # pool threads fill and trim the info cache
        self._partials = PartialFiles(self, self.root / "partials", self._writes, self._waits)

    # -- start-up -------------------------------------------------------------

    def prepare(self) -> int:
        """Create the layout, prove it is writable, and delete uploads left
        over from a crash (resumable uploads stay: only their half-written
        records go). Returns how many leftovers were removed. Raises
        ``StorageUnavailable`` with a one-line reason."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._objects.mkdir(exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
            probe = self._tmp / f".probe-{secrets.token_hex(8)}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            probe.unlink()
            removed = self._partials.prepare()
        except OSError as exc:
            raise StorageUnavailable(f"storage directory {self.root} is not usable: {exc.strerror or exc}") from exc
        self._shards = {entry.name for entry in os.scandir(self._objects) if entry.is_dir()}
        for leftover in self._tmp.iterdir():
            try:
                leftover.unlink()
                removed += 1
            except OSError as exc:
                log.warning("could not remove leftover %s: %s", leftover, exc)
        return removed

    def remove_uploads_of(self, pid: int) -> int:
        """Delete the temporary files of the uploads process ``pid`` had in
        progress, and return how many. For the supervisor of worker
        processes, once it has reaped a worker: a worker killed by a signal
        cannot clean up, and its partial uploads would otherwise stay until
        the next start-up. Synchronous (no event loop runs there); safe only
        for a pid that is no longer running."""
        suffix = f".{pid}.part"  # ids have no dots: the suffix names one process
        removed = 0
        try:
            entries = [entry.path for entry in os.scandir(self._tmp) if entry.name.endswith(suffix)]
        except OSError as exc:
            log.warning("could not list %s: %s", self._tmp, exc)
            return 0
        for path in entries:
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
        if removed:
            log.warning("worker pid %d: %d temporary file(s) removed", pid, removed)
        return removed

    def blob_ids_by_shard(self) -> Iterator[list[str]]:
        """The ids of the committed blobs, one list per shard directory
        (blocking: a scan of ``objects/``, for start-up only)."""
        for shard in sorted(self._shards):
            try:
                yield sorted(entry.name for entry in os.scandir(f"{self._objects_dir}/{shard}")
                             if SAFE_ID.match(entry.name))
            except OSError as exc:
                log.warning("could not list %s/%s: %s", self._objects_dir, shard, exc)

    def stat_blocking(self, blob_id: str) -> BlobInfo:
        """``stat`` in the calling thread (for start-up only, before any
        event loop runs). Raises ``BlobNotFound`` or ``CorruptBlob``."""
        return self._stat(_check_id(blob_id))

    # -- helpers --------------------------------------------------------------

    def _path(self, blob_id: str) -> str:
        # Plain string joins: this runs for every check and download.
        blob_id = _check_id(blob_id)
        return f"{self._objects_dir}/{blob_id[:2]}/{blob_id}"

    def _free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    # -- what the writer may use (its ``BlobHome``) ------------------------------

    @property
    def durable(self) -> bool:
        """Commits are fsynced (``fsync=True``)."""
        return self._fsync

    @property
    def wait_pool(self) -> concurrent.futures.Executor:
        """The pool for calls that mostly wait outside the interpreter lock (fsync)."""
        return self._waits

    def final_path(self, blob_id: str) -> str:
        """Where the committed blob ``blob_id`` lives."""
        return self._path(blob_id)

    def ensure_room(self, more: int) -> None:
        """Raise ``StorageFull`` if ``more`` bytes would cross the free-space
        floor. In a pool thread (statvfs)."""
        if self._min_free and self._free_bytes() - more < self._min_free:
            raise StorageFull()

    def _open_blob(self, blob_id: str) -> tuple[int, BlobInfo]:
        # In a pool thread. O_NONBLOCK: opening a FIFO put in place of a blob
        # would otherwise hold the thread (and its batch) forever. It changes
        # nothing for a regular file, and anything else is refused below.
        try:
            fd = os.open(self._path(blob_id), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            self._forget(blob_id)
            raise BlobNotFound(blob_id) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CorruptBlob(f"{blob_id} is not a regular file")
            return fd, self._info(blob_id, st, fd)
        except BaseException:
            os.close(fd)
            raise

    def _forget(self, blob_id: str) -> None:
        with self._info_lock:
            self._info_cache.pop(blob_id, None)

    def _info(self, blob_id: str, st: os.stat_result, fd: int | None) -> BlobInfo:
        """The blob's info from the cache when the file is still the one that
        was parsed (same device, inode, size and mtime: committed blobs are
        never modified in place, only replaced or removed), else parsed from
        ``fd`` (opened here when ``None``) and cached. In a pool thread."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._info_cache.get(blob_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        if fd is None:
            fd, info = self._open_blob(blob_id)
            os.close(fd)
            return info
        info = read_info(fd)
        with self._info_lock:
            while len(self._info_cache) >= INFO_CACHE_SIZE:
                del self._info_cache[next(iter(self._info_cache))]  # oldest first
            self._info_cache[blob_id] = (key, info)
        return info

    # -- the port -------------------------------------------------------------

    async def open_writer(self, blob_id: str, size_hint: int | None) -> FileBlobWriter:
        # No syscall on the loop: the free-space figure is at most
        # FREE_SPACE_MAX_AGE old (refreshed in the pool), and the temporary
        # file is created by the writer's first job in the pool. Ids are
        # unique, so is the name.
        _check_id(blob_id)
        if self._min_free:
            if time.monotonic() - self._free_at > FREE_SPACE_MAX_AGE:
                self._free_cache = await self._offload.run(self._free_bytes)
                self._free_at = time.monotonic()
            if self._free_cache - (size_hint or 0) < self._min_free:
                raise StorageFull()
        # The pid in the name tells a supervisor whose files a dead worker
        # left (remove_uploads_of); getpid() never waits for anything.
        path = self._tmp / f"{blob_id}.{os.getpid()}.part"

        def create() -> int:
            try:
                return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull() from exc
                raise

        return FileBlobWriter(self, blob_id, path, ThreadedFd(None, self._writes, create))

    async def open_reader(self, blob_id: str) -> FileBlobReader:
        fd, info = await self._offload.run(self._open_blob, _check_id(blob_id), discard=_close_opened)
        return FileBlobReader(ThreadedFd(fd, self._waits), info)

    async def stat(self, blob_id: str) -> BlobInfo:
        # Off the loop like every call that may wait for the disk, though a
        # stat() of a cached inode takes a microsecond or two: the batches of
        # Offload keep the thread round trip from costing /check its speed.
        return await self._offload.run(self._stat, _check_id(blob_id))

    async def delete(self, blob_id: str) -> None:
        await self._offload.run(self._delete, _check_id(blob_id))

    async def health(self) -> str | None:
        """The ``HealthReport`` capability: a file created and removed in
        ``tmp/`` (the directory is writable) and the free space against the
        floor, in a pool thread."""
        return await self._offload.run(self._health)

    def _health(self) -> str | None:
        # A name of its own per probe: concurrent health checks (several
        # threads, several workers) must not remove each other's probe.
        probe = f"{self._tmp}/.health-{secrets.token_hex(8)}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600))
            os.unlink(probe)
        except OSError as exc:
            return f"storage is not writable: {exc.strerror or exc}"
        if self._min_free and self._free_bytes() < self._min_free:
            return f"free space is below the floor of {self._min_free} bytes (--min-free-space)"
        return None

    async def list_ids(self, after: str, limit: int) -> list[str]:
        """The ``Listing`` capability: a scan of ``objects/`` in a pool thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._waits, self._list_ids, after, limit)

    # -- the ``Resumable`` capability (in ``resumable.PartialFiles``) -------------

    async def create_partial(self, upload_id: str, length: int | None, expires: float,
                             metadata: Mapping[str, str]) -> PartialInfo:
        return await self._partials.create(upload_id, length, expires, metadata)

    async def partial_info(self, upload_id: str) -> PartialInfo:
        return await self._partials.info(upload_id)

    async def open_append(self, upload_id: str) -> FilePartialAppender:
        return await self._partials.open_append(upload_id)

    async def remove_partial(self, upload_id: str) -> None:
        await self._partials.remove(upload_id)

    async def remove_expired(self, now: float) -> int:
        return await self._partials.remove_expired(now)

    # -- run in a pool thread --------------------------------------------------

    def _list_ids(self, after: str, limit: int) -> list[str]:
        ids: list[str] = []
        shards = sorted(entry.name for entry in os.scandir(self._objects_dir) if entry.is_dir())
        for shard in shards:
            if shard < after[:2] or len(ids) >= limit:
                continue
            names = sorted(name for name in os.listdir(f"{self._objects_dir}/{shard}")
                           if name > after and name[:2] == shard and SAFE_ID.match(name))
            ids.extend(names[:limit - len(ids)])
        return ids

    def _stat(self, blob_id: str) -> BlobInfo:
        try:
            st = os.stat(self._path(blob_id))
        except (FileNotFoundError, NotADirectoryError):
            self._forget(blob_id)
            raise BlobNotFound(blob_id) from None
        return self._info(blob_id, st, None)

    def _delete(self, blob_id: str) -> None:
        try:
            os.unlink(self._path(blob_id))
        except FileNotFoundError:
            raise BlobNotFound(blob_id) from None

    def ensure_shard(self, blob_id: str) -> str:
        """The shard directory of ``blob_id``, created (and, with fsync, its
        entry made durable) when not known to exist. In a pool thread."""
        shard = f"{self._objects_dir}/{blob_id[:2]}"
        if blob_id[:2] not in self._shards:  # known shards cost no stat() per upload
            try:
                os.mkdir(shard)
            except FileExistsError:
                pass
            if self._fsync:
                fsync_dir(self._objects_dir)
            self._shards.add(blob_id[:2])
        return shard


def _close_opened(opened: tuple[int, BlobInfo]) -> None:
    os.close(opened[0])
