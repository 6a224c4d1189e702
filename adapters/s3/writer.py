"""A blob's bytes streamed into S3: the ``BlobWriter`` of ``S3Store``.

Bytes are cut into parts of ``part_size`` as they arrive. The first full
part starts a multipart upload; each part is sent while the next one fills,
and ``write`` waits for a part in flight before sending another, so at most
about two parts are held (one in flight, one filling): memory is bounded
whatever the blob's size and however slow the server. A blob that never
fills a part goes as one ``PutObject`` at commit.

``commit`` sends the last part, completes the upload (the data object exists
only from then on, under its own key, see ``layout``), checks the object's
size, then writes the blob's record with ``If-None-Match: *``: the blob is
visible from that one PUT on, with its metadata. Any failure before then
aborts the upload and deletes the data, so nothing partial stays; uploads
orphaned by a crash are what the bucket's lifecycle rule
``AbortIncompleteMultipartUpload`` is for (README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Mapping

from adapters.s3.client import PreconditionFailed, S3Client
from adapters.s3.layout import BlobRecord, Layout, new_token, record_body
from ports.storage import StorageFull

log = logging.getLogger("uds.storage")

MIN_PART_SIZE = 5 << 20  # S3's (and SeaweedFS's) floor for every part but the last
MAX_PARTS = 10_000


class BlobExists(Exception):
    """A committed blob already has this id (records are never replaced)."""


class S3BlobWriter:
    """One blob on its way to the bucket. The caller ends it with exactly one
    ``commit`` or ``abort`` (see ``ports.storage.BlobWriter``)."""

    def __init__(self, client: S3Client, layout: Layout, blob_id: str, part_size: int) -> None:
        self._client, self._layout, self._blob_id = client, layout, blob_id
        self._token = new_token()
        self._key = layout.data_key(blob_id, self._token)
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[tuple[int, str]] = []
        self._in_flight: asyncio.Future[str] | None = None
        self._size = 0
        self._closed = False
        self._published = False
        self._committing: asyncio.Task[None] | None = None
        self._aborted = False

    async def write(self, chunk: bytes) -> None:
        if self._closed:
            raise ValueError("writer is closed")
        self._size += len(chunk)
        view = memoryview(chunk)
        while view:
            # Fill the part up to its size exactly, then hand the buffer itself
            # over (no copy of it) and start the next one: at most one part
            # filling and one in flight are held.
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._part_size:
                part, self._buffer = self._buffer, bytearray()
                await self._send_part(part)

    async def _send_part(self, part: bytes | bytearray) -> None:
        await self._wait_in_flight()
        if len(self._parts) >= MAX_PARTS - 1:  # keep the last part number for commit
            raise StorageFull(f"a blob of more than {MAX_PARTS - 1} parts of {self._part_size} bytes")
        if self._upload_id is None:
            self._upload_id = await self._client.create_multipart(self._key)
        number = len(self._parts) + 1
        self._in_flight = asyncio.ensure_future(self._client.upload_part(self._key, self._upload_id, number, part))
        self._parts.append((number, ""))

    async def _wait_in_flight(self) -> None:
        # Shielded: a cancelled caller must not cancel the part, whose request
        # goes on in its thread anyway; ``_discard`` waits for it to end
        # before aborting the upload, so that no part lands after the abort.
        if self._in_flight is not None:
            etag = await asyncio.shield(self._in_flight)
            self._in_flight = None
            self._parts[-1] = (self._parts[-1][0], etag)

    async def commit(self, metadata: Mapping[str, str]) -> None:
        if self._closed:
            raise ValueError("writer is closed")
        self._closed = True
        # The commit runs as a task of its own, shielded: cancelling the caller
        # must not cut it between the record's PUT and its answer, where the
        # blob may be visible without the caller knowing. The task ends, then
        # whatever it published is undone (never a visible blob after a raise).
        task = self._committing = asyncio.ensure_future(self._commit(dict(metadata)))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.shield(self._undo_after(task))
            raise
        except BaseException:
            self._committing = None  # failed and discarded: nothing for abort to undo
            raise
        if self._aborted:  # aborted while the commit ran: abort undoes it
            raise ValueError("writer was aborted during commit")
        self._committing = None  # committed: abort is a no-op from now on

    async def _commit(self, metadata: dict[str, str]) -> None:
        try:
            if self._upload_id is None:
                body, self._buffer = self._buffer, bytearray()
                await self._client.put_object(self._key, body)
            else:
                if self._buffer:
                    part, self._buffer = self._buffer, bytearray()
                    await self._send_part(part)
                await self._wait_in_flight()
                self._buffer = bytearray()
                await self._client.complete_multipart(self._key, self._upload_id, self._parts)
                self._upload_id = None
                stored = (await self._client.head_object(self._key)).size
                if stored != self._size:
                    raise OSError(f"S3 stored {stored} bytes of blob {self._blob_id}, not {self._size}")
            self._buffer = bytearray()
            record = BlobRecord(self._size, self._token, metadata)
            try:
                await self._client.put_object(self._layout.blob_key(self._blob_id), record_body(record),
                                              if_none_match=True)
            except PreconditionFailed:
                raise BlobExists(self._blob_id) from None
            self._published = True
        except BaseException:
            await asyncio.shield(self._discard())
            raise

    async def _undo_after(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(BaseException):
            await task
        if self._published:
            self._published = False
            with contextlib.suppress(Exception):
                await self._client.delete_object(self._layout.blob_key(self._blob_id))
            await self._discard()

    async def _discard(self) -> None:
        """Drop what this writer sent: the upload in progress, or the data
        object once complete. Errors are logged, not raised."""
        self._buffer = bytearray()
        if self._in_flight is not None:
            with contextlib.suppress(BaseException):
                await self._in_flight
            self._in_flight = None
        try:
            if self._upload_id is not None:
                upload_id, self._upload_id = self._upload_id, None
                await self._client.abort_multipart(self._key, upload_id)
            else:
                await self._client.delete_object(self._key)
        except Exception as exc:  # abort never raises; the lifecycle rule is the backstop
            log.warning("could not discard S3 object %s: %s", self._key, exc)

    async def abort(self) -> None:
        if self._committing is not None and not self._aborted:
            self._aborted = True
            await asyncio.shield(self._undo_after(self._committing))
            return
        if self._closed:
            return
        self._closed = True
        await asyncio.shield(self._discard())
