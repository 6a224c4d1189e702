"""A committed blob read from S3: the ``BlobReader`` of ``S3Store``.

A download reads a blob with ``read_at`` calls at increasing offsets. They
are all served from ONE streaming ``GetObject``, opened with the reader (from
byte 0) and read as the calls come: one request per download, however many
calls. Only a call at another offset than where the stream stands (a Range
request, a resumed download) closes it and opens a ranged one there.

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
    caller must ``close`` it (safe twice)."""

    def __init__(self, client: S3Client, key: str, info: BlobInfo, stream: ObjectStream | None) -> None:
        self._client, self._key, self._info = client, key, info
        self._stream = stream
        self._position = 0
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
            if self._stream is None or offset != self._position:
                self._drop_stream()
                try:
                    self._stream = await self._client.open_stream(self._key, offset)
                except NoSuchKey:
                    raise BlobNotFound(self._key) from None
                self._position = offset
            assert self._stream is not None
            data = await self._stream.read(want)
            self._position += len(data)
            if len(data) < want:
                raise OSError(f"S3 object {self._key} ended at byte {self._position}, before {self._info.size}")
            return data

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._closed = True
        self._drop_stream()
