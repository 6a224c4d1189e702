"""A blob store on a local file system.

Layout under the root directory::

    tmp/<id>.<pid>.part         uploads in progress in process <pid> (removed at
                                start-up, or when that worker process dies)
    objects/<id[:2]>/<id>       committed blobs

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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import json
import logging
import os
import re
import secrets
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

from adapters.storage.threads import Offload, ThreadedFd
from ports.storage import BlobInfo, BlobNotFound, StorageFull

log = logging.getLogger("uds.storage")

MAGIC = b"UDSBLOB1"
TRAILER = struct.Struct(">8sQ")
TAIL_READ = 4096  # one pread of the tail usually covers metadata and trailer
WRITE_BUFFER = 1 << 20
# Received pieces smaller than this are copied into a staging buffer, larger
# ones are written as they are: a block then holds at most two pieces per
# COALESCE_BELOW bytes, so one writev() takes it whatever the chunking, and
# the bulk of a large upload is never copied.
COALESCE_BELOW = 16 << 10
FREE_SPACE_MAX_AGE = 0.25  # seconds a statvfs() result serves the up-front check of new uploads
IOV_MAX = 1024  # POSIX minimum of the largest writev() vector
MAX_METADATA = 1 << 20
# With fsync, writeback of an upload is started every this many bytes, so that
# the disk works while the body still arrives and the final fsync finds little
# left to write (else the whole file waits in the page cache until the end).
WRITEBACK_STEP = 8 << 20
INFO_CACHE_SIZE = 4096  # parsed metadata of the most recently used blobs (a few hundred bytes each)
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


class StorageUnavailable(Exception):
    """The storage directory cannot be used (missing, not writable, ...)."""


class CorruptBlob(OSError):
    """A file under objects/ that is not a valid committed blob."""


class WriterAborted(Exception):
    """A commit found its writer aborted meanwhile (by another task)."""


def _check_id(blob_id: str) -> str:
    # Ids are validated by the domain; this is defence in depth so that no
    # caller can ever turn an id into a path outside the store.
    if not SAFE_ID.match(blob_id):
        raise BlobNotFound(blob_id)
    return blob_id


def _write_all(fd: int, pieces: Sequence[bytes | bytearray]) -> None:
    """Write every piece, in order, with as few ``writev`` calls as the
    kernel allows (it may write less than asked: resume where it stopped).
    Linear in the number of pieces: an index walks them, nothing is popped,
    and only a piece written in part gets a view (of its remaining bytes)."""
    left: list[bytes | bytearray | memoryview] = [p for p in pieces if p]
    first = 0
    done = 0  # bytes of left[first] already written
    while first < len(left):
        window = left[first:first + IOV_MAX]
        if done:
            window[0] = memoryview(left[first])[done:]
        written = os.writev(fd, window) + done
        while first < len(left) and written >= len(left[first]):
            written -= len(left[first])
            first += 1
        done = written


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of a file to disk without waiting for it: on
    Linux, ``POSIX_FADV_DONTNEED`` submits the range's dirty pages for
    writeback (and drops pages of it that are already clean). Only a hint."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is not None:
        try:
            fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:  # pragma: no cover - a hint; fsync still makes it durable
            pass


def _read_info(fd: int) -> BlobInfo:
    """Parse the trailer and metadata of an open blob file."""
    file_size = os.fstat(fd).st_size
    if file_size < TRAILER.size:
        raise CorruptBlob("file too short for a trailer")
    tail_start = max(0, file_size - TAIL_READ)
    tail = os.pread(fd, file_size - tail_start, tail_start)
    magic, meta_len = TRAILER.unpack(tail[-TRAILER.size:])
    if magic != MAGIC or meta_len > MAX_METADATA or meta_len + TRAILER.size > file_size:
        raise CorruptBlob("bad trailer")
    data_size = file_size - TRAILER.size - meta_len
    if meta_len + TRAILER.size <= len(tail):
        raw = tail[len(tail) - TRAILER.size - meta_len:len(tail) - TRAILER.size]
    else:
        raw = os.pread(fd, meta_len, data_size)
    try:
        metadata = json.loads(raw)
    except ValueError as exc:
        raise CorruptBlob("bad metadata") from exc
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptBlob("bad metadata")
    return BlobInfo(size=data_size, metadata=metadata)


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

    # -- start-up -------------------------------------------------------------

    def prepare(self) -> int:
        """Create the layout, prove it is writable, and delete uploads left
        over from a crash. Returns how many leftovers were removed. Raises
        ``StorageUnavailable`` with a one-line reason."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._objects.mkdir(exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
            probe = self._tmp / f".probe-{secrets.token_hex(8)}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            probe.unlink()
        except OSError as exc:
            raise StorageUnavailable(f"storage directory {self.root} is not usable: {exc.strerror or exc}") from exc
        self._shards = {entry.name for entry in os.scandir(self._objects) if entry.is_dir()}
        removed = 0
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

    # -- helpers --------------------------------------------------------------

    def _path(self, blob_id: str) -> str:
        # Plain string joins: this runs for every check and download.
        blob_id = _check_id(blob_id)
        return f"{self._objects_dir}/{blob_id[:2]}/{blob_id}"

    def _free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def _ensure_room(self, more: int) -> None:
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
        info = _read_info(fd)
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

    # -- run in a pool thread --------------------------------------------------

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

    # -- used by the writer (in a pool thread) ---------------------------------

    def _ensure_shard(self, blob_id: str) -> str:
        """The shard directory of ``blob_id``, created (and, with fsync, its
        entry made durable) when not known to exist."""
        shard = f"{self._objects_dir}/{blob_id[:2]}"
        if blob_id[:2] not in self._shards:  # known shards cost no stat() per upload
            try:
                os.mkdir(shard)
            except FileExistsError:
                pass
            if self._fsync:
                _fsync_dir(self._objects_dir)
            self._shards.add(blob_id[:2])
        return shard


def _close_opened(opened: tuple[int, BlobInfo]) -> None:
    os.close(opened[0])


def _fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobWriter:
    """Buffers small chunks and writes ``WRITE_BUFFER``-sized blocks from a
    pool thread, so memory stays bounded and the loop never blocks on disk."""

    def __init__(self, store: FileSystemStore, blob_id: str, tmp_path: Path, file: ThreadedFd) -> None:
        self._store = store
        self._blob_id = blob_id
        self._tmp_path = tmp_path
        self._file = file
        # Large received pieces are kept as they are (no copy), runs of small
        # ones are joined in a staging buffer (see COALESCE_BELOW); a block is
        # written with one writev.
        self._pieces: list[bytes | bytearray] = []
        self._staging: bytearray | None = None  # the last piece, when small ones are joined in it
        self._pending = 0
        self._done = False
        self._final_path = store._path(blob_id)
        self._aborted = False  # set by abort(); the publishing job checks it right before the rename
        self._published = False  # the rename happened (pool thread; read by _discard after the job ended)
        self._written = 0  # bytes in the file (pool thread only)
        self._written_back = 0  # bytes whose writeback has been started (pool thread only)

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("writer is closed")
        if len(chunk) >= COALESCE_BELOW:
            self._pieces.append(chunk)
            self._staging = None
        elif self._staging is not None:
            self._staging += chunk
        else:
            self._staging = bytearray(chunk)
            self._pieces.append(self._staging)
        self._pending += len(chunk)
        if self._pending >= WRITE_BUFFER:
            await self._file.run(self._write_block, self._take_block())

    def _take_block(self) -> list[bytes | bytearray]:
        """The pieces received so far, handed over: none of them is changed
        after this (the pool thread writes them while new ones arrive)."""
        block, self._pieces, self._staging, self._pending = self._pieces, [], None, 0
        return block

    def _write_block(self, block: list[bytes | bytearray]) -> None:
        size = sum(len(p) for p in block)
        self._store._ensure_room(size)
        try:
            _write_all(self._file.fd, block)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull() from exc
            raise
        self._written += size
        if self._store._fsync and self._written - self._written_back >= WRITEBACK_STEP:
            _start_writeback(self._file.fd, self._written_back, self._written - self._written_back)
            self._written_back = self._written

    def _finish(self, block: list[bytes | bytearray], metadata: Mapping[str, str]) -> None:
        meta = json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":")).encode()
        self._write_block([*block, meta, TRAILER.pack(MAGIC, len(meta))])
        if not self._store._fsync:
            self._publish()

    def _sync_and_publish(self) -> None:
        os.fsync(self._file.fd)
        self._publish()

    def _publish(self) -> None:
        """Rename the temporary file into place (in a pool thread), unless
        the writer was aborted meanwhile: then raise ``WriterAborted``.

        An abort can land between the check and the rename; no lock closes
        that gap (one held by the event loop would wait for a rename on a
        slow disk). ``_published`` records that the rename happened instead,
        and ``_discard``, which runs only once this job has ended, removes
        the blob again: after ``abort`` the blob is never left visible."""
        shard = self._store._ensure_shard(self._blob_id)
        if self._aborted:
            raise WriterAborted(self._blob_id)
        os.rename(self._tmp_path, self._final_path)
        self._published = True
        if self._store._fsync:
            _fsync_dir(shard)

    async def commit(self, metadata: Mapping[str, str]) -> None:
        """Write what is left and the metadata (one job in the write pool),
        then, with fsync, fsync the file, rename it into place and fsync the
        directory (one job in the wait pool); without, rename in the first.
        Cancelled or failed at any point, it leaves nothing visible (see
        ``_publish``)."""
        if self._done:
            raise ValueError("writer is closed")
        block = self._take_block()
        try:
            await self._file.run(self._finish, block, metadata)
            if self._store._fsync:
                await self._file.run(self._sync_and_publish, executor=self._store._waits)
            if self._aborted:  # by another task, after the rename: _discard removes the blob
                raise WriterAborted(self._blob_id)
        except BaseException:
            await self.abort()
            raise
        self._done = True
        self._file.close()

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._aborted = True
        self._take_block()
        self._file.close(then=self._discard)

    def _discard(self) -> None:
        """Once the writer's last job has ended: remove the temporary file,
        and the blob if that job published it before it saw the abort."""
        for path in (self._tmp_path, self._final_path) if self._published else (self._tmp_path,):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)


class FileBlobReader:
    def __init__(self, file: ThreadedFd, info: BlobInfo) -> None:
        self._file = file
        self._info = info

    @property
    def info(self) -> BlobInfo:
        return self._info

    async def read_at(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self._info.size - offset))
        if size == 0:
            return b""
        return await self._file.run(os.pread, self._file.fd, size, offset)

    def fileno(self) -> int | None:
        return self._file.fd

    def close(self) -> None:
        self._file.close()
