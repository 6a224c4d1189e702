"""A committed blob read from S3: the ``BlobReader`` of ``S3Store``.

A download reads a blob with ``read_at`` calls at increasing offsets. They
are all served from ONE streaming ``GetObject``, opened with the reader (from
byte 0) and read as the calls come: one request per download, however many
calls. Only a call at another offset than where the stream stands (a Range
request, a resumed download) closes it and opens a ranged one there.

While the caller sends one slice, the next is read ahead (see the class).
The stream opened with the reader keeps a blob deleted meanwhile readable as
far as the server still sends it; a reopen after the delete finds nothing
(``BlobNotFound``).
"""

from __future__ import annotations

import asyncio

from adapters.s3.client import NoSuchKey, ObjectStream, S3Client
from ports.storage import BlobInfo, BlobNotFound


class S3BlobReader:
    """Positional reads of one data object (see the module docstring). The
    caller must ``close`` it (safe twice).

    After each read the next slice of the same size is read ahead, so that
    the GET's bytes arrive while the caller sends the previous slice instead
    of after it: at most two slices are held (the one read ahead and the
    rest of a slice taken in part)."""

    def __init__(self, client: S3Client, key: str, info: BlobInfo, stream: ObjectStream | None) -> None:
        self._client, self._key, self._info = client, key, info
        self._stream = stream
        self._position = 0  # where the stream stands
        self._buffer = b""  # bytes read from the stream, not yet taken: they end at ``_position``
        self._ahead: asyncio.Future[bytes] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, client: S3Client, key: str, info: BlobInfo) -> S3BlobReader:
        stream = await client.open_stream(key) if info.size else None
        return cls(client, key, info, stream)

    @property
    def info(self) -> BlobInfo:
        return self._info

    async def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer only at the end.
        ``OSError`` when the object is shorter than its record says."""
        want = min(size, self._info.size - offset)
        if want <= 0:
            return b""
        async with self._lock:
            if self._closed:
                raise ValueError("reader is closed")
            await self._settle()
            start = self._position - len(self._buffer)
            if self._stream is None or not start <= offset <= self._position:
                await self._reopen(offset)
            elif offset > start:
                self._buffer = self._buffer[offset - start:]
            while len(self._buffer) < want:
                assert self._stream is not None
                chunk = await self._stream.read(want - len(self._buffer))
                if not chunk:
                    raise OSError(f"S3 object {self._key} ended at byte {self._position}, before {self._info.size}")
                self._buffer += chunk
                self._position += len(chunk)
            data, self._buffer = self._buffer[:want], self._buffer[want:]
            if not self._buffer and self._position < self._info.size and self._stream is not None:
                self._ahead = asyncio.ensure_future(self._stream.read(min(want, self._info.size - self._position)))
            return data

    async def _settle(self) -> None:
        """Take in what was read ahead (or forget the stream if that failed)."""
        if self._ahead is None:
            return
        ahead, self._ahead = self._ahead, None
        try:
            chunk = await asyncio.shield(ahead)
        except Exception:
            self._drop_stream()  # the next read reopens, and meets the error again if it lasts
            return
        self._buffer += chunk
        self._position += len(chunk)

    async def _reopen(self, offset: int) -> None:
        self._drop_stream()
        try:
            self._stream = await self._client.open_stream(self._key, offset)
        except NoSuchKey:
            raise BlobNotFound(self._key) from None
        self._position, self._buffer = offset, b""

    def _drop_stream(self) -> None:
        if self._ahead is not None:  # its thread ends with the closed connection; nobody wants its result
            self._ahead.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._ahead = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._buffer = b""

    def close(self) -> None:
        self._closed = True
        self._drop_stream()
