"""One append to a partial upload kept in the bucket: the ``PartialAppender``
of ``adapters/s3/partials.py`` (whose docstring says how appends stay atomic
and how an upload is published)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Mapping

from adapters.s3.client import NoSuchKey, PreconditionFailed, S3Error
from adapters.s3.partial_state import PartialState, Segment, encode_state
from ports.storage import BlobNotFound, PartialInfo

if TYPE_CHECKING:
    from adapters.s3.partials import S3Partials

log = logging.getLogger("uds.storage")
READ_SLICE = 1 << 20  # bytes per read when streaming segments into the blob


class S3PartialAppender:
    """One append to a partial upload, holding its lease until exactly one of
    ``save``, ``commit`` or ``abort`` (see ``ports.storage.PartialAppender``)."""

    def __init__(self, partials: S3Partials, upload_id: str, holder: str, state: PartialState, etag: str,
                 segments: list[Segment], tail: bytearray) -> None:
        self._p = partials
        self._id = upload_id
        self._holder = holder
        self._state = state
        self._etag = etag
        self._segments = segments  # the recorded ones (less a short last one, now in the buffer) and new ones
        self._buffer = tail
        self._new: list[str] = []  # segments this appender wrote
        self._renewed = partials.clock()
        self._done = False

    @property
    def info(self) -> PartialInfo:
        return self._state.info

    def _size(self) -> int:
        return sum(s.size for s in self._segments) + len(self._buffer)

    async def _keep_lease(self) -> None:
        if self._p.clock() - self._renewed > self._p.lease_seconds / 3:
            if not await self._p.renew_lease(self._id, self._holder):
                raise OSError(f"partial upload {self._id}: lost its lease to another appender")
            self._renewed = self._p.clock()

    async def _flush(self, size: int) -> None:
        name = f"seg-{secrets.token_hex(8)}"
        self._new.append(name)
        await self._p.api.put_object(self._p.key(self._id, name), bytes(self._buffer[:size]))
        del self._buffer[:size]
        self._segments.append(Segment(name, size))

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("appender is closed")
        self._buffer += chunk
        while len(self._buffer) >= self._p.segment_size:
            await self._keep_lease()
            await self._flush(self._p.segment_size)

    async def read_at(self, offset: int, size: int) -> bytes:
        if self._done:
            raise ValueError("appender is closed")
        out = bytearray()
        position = 0
        for segment in self._segments:
            if len(out) < size and offset < position + segment.size:
                start = max(0, offset - position)
                take = min(segment.size - start, size - len(out))
                out += await self._p.read_segment(self._id, segment, start, take)
                offset = position + start + take
            position += segment.size
        if len(out) < size and offset >= position:
            out += self._buffer[offset - position:offset - position + size - len(out)]
        return bytes(out)

    async def _record(self, length: int | None, expires: float, publishing: bool) -> PartialInfo:
        """Write the rest of the buffer as a segment and the state naming
        every segment, conditionally on the state this appender read."""
        await self._keep_lease()
        if self._buffer:
            await self._flush(len(self._buffer))
        info = PartialInfo(self._size(), length, expires, self._state.info.metadata)
        state = PartialState(info, tuple(self._segments), publishing)
        try:
            self._etag = await self._p.api.put_object(self._p.key(self._id, "state"), encode_state(state),
                                                      if_match=self._etag)
        except (PreconditionFailed, NoSuchKey):
            raise OSError(f"partial upload {self._id} changed under its appender (lease lost)") from None
        replaced = {s.name for s in self._state.segments} - {s.name for s in self._segments}
        self._state, self._new = state, []
        for name in replaced:  # a short last segment, rewritten longer
            try:
                await self._p.api.delete_object(self._p.key(self._id, name))
            except (S3Error, OSError) as exc:
                log.warning("could not delete %s of partial upload %s: %s", name, self._id, exc)
        return info

    async def save(self, length: int | None, expires: float) -> PartialInfo:
        if self._done:
            raise ValueError("appender is closed")
        try:
            info = await self._record(length, expires, publishing=False)
        except BaseException:
            await self.abort()
            raise
        self._done = True
        await asyncio.shield(self._p.drop_lease(self._id, self._holder))
        return info

    async def commit(self, metadata: Mapping[str, str]) -> None:
        if self._done:
            raise ValueError("appender is closed")
        self._done = True
        task = asyncio.ensure_future(self._publish(dict(metadata)))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.shield(self._undo_after(task))
            raise
        try:  # published: what is left of the upload is a leftover now, whatever happens next
            await asyncio.shield(self._p.delete_all(self._id))
        except (S3Error, OSError) as exc:
            log.warning("partial upload %s is published; its objects stay until the janitor: %s", self._id, exc)

    async def _publish(self, metadata: dict[str, str]) -> None:
        info = self._state.info
        try:
            await self._record(info.length, info.expires, publishing=True)
            writer = await self._p.store.open_writer(self._id, self._size())
        except BaseException:
            await asyncio.shield(self._give_back())
            raise
        try:
            for segment in self._segments:
                for start in range(0, segment.size, READ_SLICE):
                    await writer.write(await self._p.read_segment(
                        self._id, segment, start, min(READ_SLICE, segment.size - start)))
            await writer.commit(metadata)
        except BaseException:
            await asyncio.shield(writer.abort())
            await asyncio.shield(self._give_back())
            raise

    async def _give_back(self) -> None:
        """After a failed publish: the upload as it was recorded, released."""
        if self._state.publishing:
            try:
                await self._record(self._state.info.length, self._state.info.expires, publishing=False)
            except (S3Error, OSError) as exc:
                log.warning("partial upload %s stays marked publishing: %s", self._id, exc)
        await self._discard_new()
        await self._p.drop_lease(self._id, self._holder)

    async def _undo_after(self, task: asyncio.Future[None]) -> None:
        """The caller was cancelled while publishing: once the task ends, take
        back a blob it made visible (never a published blob after a raise)."""
        try:
            await task
        except BaseException:
            return  # failed: given back already
        try:
            await self._p.store.delete(self._id)
        except (BlobNotFound, S3Error, OSError) as exc:
            log.warning("could not take back blob %s: %s", self._id, exc)
        await self._give_back()

    async def _discard_new(self) -> None:
        for name in self._new:
            try:
                await self._p.api.delete_object(self._p.key(self._id, name))
            except (S3Error, OSError) as exc:
                log.warning("could not delete %s of partial upload %s: %s", name, self._id, exc)
        self._new = []

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        await asyncio.shield(self._discard_new())
        await asyncio.shield(self._p.drop_lease(self._id, self._holder))
