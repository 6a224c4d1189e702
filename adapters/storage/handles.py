"""The writer and the reader the filesystem store hands out: one upload's
temporary file, one download's open blob. Their blocking calls run in the
store's thread pools (see ``threads.ThreadedFd``)."""

from __future__ import annotations

import errno
import logging
import os
import concurrent.futures
from pathlib import Path
from typing import Mapping, Protocol

from adapters.storage.blobfile import encode_tail, fsync_dir, start_writeback, write_all
from adapters.storage.threads import ThreadedFd
from ports.storage import BlobInfo, StorageFull

log = logging.getLogger("uds.storage")

WRITE_BUFFER = 1 << 20
# Received pieces smaller than this are copied into a staging buffer, larger
# ones are written as they are: a block then holds at most two pieces per
# COALESCE_BELOW bytes, so one writev() takes it whatever the chunking, and
# the bulk of a large upload is never copied.
COALESCE_BELOW = 16 << 10
# With fsync, writeback of an upload is started every this many bytes, so that
# the disk works while the body still arrives and the final fsync finds little
# left to write (else the whole file waits in the page cache until the end).
WRITEBACK_STEP = 8 << 20


class WriterAborted(Exception):
    """A commit found its writer aborted meanwhile (by another task)."""


class BlobHome(Protocol):
    """What a writer needs of its store (``FileSystemStore`` is one)."""

    @property
    def durable(self) -> bool: ...

    @property
    def wait_pool(self) -> concurrent.futures.Executor: ...

    def final_path(self, blob_id: str) -> str: ...

    def ensure_room(self, more: int) -> None: ...

    def ensure_shard(self, blob_id: str) -> str: ...


class FileBlobWriter:
    """Buffers small chunks and writes ``WRITE_BUFFER``-sized blocks from a
    pool thread, so memory stays bounded and the loop never blocks on disk.
    One block is in the pool while the next one arrives (at most two blocks
    held): on two cores receiving and writing overlap."""

    def __init__(self, store: BlobHome, blob_id: str, tmp_path: Path, file: ThreadedFd) -> None:
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
        self._final_path = store.final_path(blob_id)
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
            # One block is written while the next one arrives: wait for the
            # previous block (its error surfaces here), then hand this one over.
            await self._file.finish()
            self._file.start(self._write_block, self._take_block())

    def _take_block(self) -> list[bytes | bytearray]:
        """The pieces received so far, handed over: none of them is changed
        after this (the pool thread writes them while new ones arrive)."""
        block, self._pieces, self._staging, self._pending = self._pieces, [], None, 0
        return block

    def _write_block(self, block: list[bytes | bytearray]) -> None:
        size = sum(len(p) for p in block)
        self._store.ensure_room(size)
        try:
            write_all(self._file.fd, block)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull() from exc
            raise
        self._written += size
        if self._store.durable and self._written - self._written_back >= WRITEBACK_STEP:
            start_writeback(self._file.fd, self._written_back, self._written - self._written_back)
            self._written_back = self._written

    def _finish(self, block: list[bytes | bytearray], metadata: Mapping[str, str]) -> None:
        self._write_block([*block, encode_tail(metadata)])
        if not self._store.durable:
            self._publish()

    def _finish_sync_publish(self, block: list[bytes | bytearray], metadata: Mapping[str, str]) -> None:
        self._finish(block, metadata)
        self._sync_and_publish()

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
        shard = self._store.ensure_shard(self._blob_id)
        if self._aborted:
            raise WriterAborted(self._blob_id)
        os.rename(self._tmp_path, self._final_path)
        self._published = True
        if self._store.durable:
            fsync_dir(shard)

    async def commit(self, metadata: Mapping[str, str]) -> None:
        """Write what is left and the metadata (one job in the write pool),
        then, with fsync, fsync the file, rename it into place and fsync the
        directory (one job in the wait pool); without, rename in the first.
        With fsync and nothing written before (a small upload), all of it is
        one job in the wait pool.
        Cancelled or failed at any point, it leaves nothing visible (see
        ``_publish``)."""
        if self._done:
            raise ValueError("writer is closed")
        block = self._take_block()
        try:
            await self._file.finish()
            if self._store.durable and not self._file.opened:
                # Nothing written yet (a small upload): one job does it all,
                # in the wait pool, instead of one job in each pool.
                await self._file.run(self._finish_sync_publish, block, metadata, executor=self._store.wait_pool)
            else:
                await self._file.run(self._finish, block, metadata)
                if self._store.durable:
                    await self._file.run(self._sync_and_publish, executor=self._store.wait_pool)
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

    def fileno(self) -> int:
        return self._file.fd

    def close(self) -> None:
        self._file.close()
