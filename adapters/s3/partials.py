"""Partial (tus) uploads kept in the bucket: the ``Resumable`` capability of
the S3 store, so that an upload started on one instance goes on, and ends,
on any other.

Layout under ``<prefix>partials/<id>/`` (formats in ``partial_state.py``)::

    state       offset, length, expiry, metadata and the list of segments
    lease       who appends right now, until when
    seg-<hex>   the bytes, in segments of ``segment_size`` (the last smaller)

Exclusive appends across processes and machines: ``open_append`` takes the
lease by compare-and-swap (``If-None-Match: *`` on the first take, ``If-Match``
after), and only when nobody holds it or its holder's time ran out, so that a
crashed instance blocks an upload for ``lease_seconds`` at most; a holder
renews it while it writes. ``PartialBusy`` at once, never a wait.

Atomic appends: bytes are buffered up to ``segment_size`` and written as new
segment objects (never over an existing one); ``save`` writes the rest as a
last segment and then replaces the state with ``If-Match`` on the ETag the
appender read. A crash before that write leaves the old state, naming only
the old segments: the upload is at the old offset with exactly those bytes
(the unnamed segments are removed with the upload). A holder whose lease
was taken over meanwhile finds the state changed and fails: it can never
overwrite a successor's append. The next append reads a short last segment
back (at most ``segment_size``) and rewrites it with its own bytes, so every
segment but the last stays full and the state stays small.

Publishing (``commit``): the state is marked ``publishing``, the segments are
streamed in order through the store's own writer (``open_writer``: the blob
then has the store's layout, multipart data object plus record written with
``If-None-Match: *``), and the upload's objects are deleted, state first. A
crash after the blob is visible leaves a state marked ``publishing`` whose
blob exists: a leftover, not found, removed by ``remove_expired``. Every
byte crosses the instance twice (segments in, blob out) at the cost of a
commit as long as a copy; S3's ``UploadPartCopy`` could make it server-side.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import Callable, Mapping

from adapters.s3 import cas
from adapters.s3.client import PreconditionFailed, S3Error
from adapters.s3.partial_appender import READ_SLICE, S3PartialAppender
from adapters.s3.partial_state import PartialState, Segment, decode_lease, decode_state, encode_lease, encode_state
from adapters.s3.protocol import ObjectApi
from ports.storage import BlobNotFound, PartialBusy, PartialInfo, PartialNotFound, Storage

log = logging.getLogger("uds.storage")

SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


def _checked(upload_id: str) -> str:
    if not SAFE_ID.match(upload_id):
        raise PartialNotFound(upload_id)
    return upload_id


class S3Partials:
    """The partial uploads of one ``store`` (which publishes them as blobs):
    ``prefix`` is the store's ("" or ending in ``/``). ``clock`` gives the
    wall-clock time that leases are judged by (every instance's clock is
    assumed right to well within ``lease_seconds``)."""

    def __init__(self, api: ObjectApi, prefix: str, store: Storage, *,
                 segment_size: int = 8 << 20, lease_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.root = f"{prefix}partials/"
        self.store = store
        self.segment_size = segment_size
        self.lease_seconds = lease_seconds
        self.clock = clock

    async def blob_exists(self, blob_id: str) -> bool:
        try:
            await self.store.stat(blob_id)
        except BlobNotFound:
            return False
        return True

    def key(self, upload_id: str, name: str) -> str:
        return f"{self.root}{_checked(upload_id)}/{name}"

    # -- the capability --------------------------------------------------------------

    async def create(self, upload_id: str, length: int | None, expires: float,
                     metadata: Mapping[str, str]) -> PartialInfo:
        info = PartialInfo(0, length, expires, dict(metadata))
        try:
            await self.api.put_object(self.key(upload_id, "state"), encode_state(PartialState(info)),
                                      if_none_match=True)
        except PreconditionFailed:
            raise FileExistsError(f"partial upload {upload_id} exists") from None
        return info

    async def info(self, upload_id: str) -> PartialInfo:
        return (await self.state(upload_id))[0].info

    async def state(self, upload_id: str) -> tuple[PartialState, str]:
        """The recorded state and its ETag, or ``PartialNotFound`` (also for
        the leftover of an upload published already)."""
        raw, etag = await cas.read(self.api, self.key(upload_id, "state"))
        if raw is None or etag is None:
            raise PartialNotFound(upload_id)
        state = decode_state(raw)
        if state.publishing and await self.blob_exists(upload_id):
            raise PartialNotFound(upload_id)
        return state, etag

    async def open_append(self, upload_id: str) -> S3PartialAppender:
        holder = await self.take_lease(upload_id)
        try:
            state, etag = await self.state(upload_id)
            segments = list(state.segments)
            tail = bytearray()
            if segments and segments[-1].size < self.segment_size:
                last = segments.pop()
                tail += (await self.api.get_object(self.key(upload_id, last.name), max_size=self.segment_size)).body
                if len(tail) != last.size:
                    raise OSError(f"partial upload {upload_id}: segment {last.name} holds {len(tail)} bytes,"
                                  f" not {last.size}")
        except BaseException as exc:
            await asyncio.shield(self.drop_lease(upload_id, holder, gone=isinstance(exc, PartialNotFound)))
            raise
        return S3PartialAppender(self, upload_id, holder, state, etag, segments, tail)

    async def remove(self, upload_id: str) -> None:
        holder = await self.take_lease(upload_id)
        try:
            await self.state(upload_id)
        except BaseException as exc:
            await asyncio.shield(self.drop_lease(upload_id, holder, gone=isinstance(exc, PartialNotFound)))
            raise
        await self.delete_all(upload_id)

    async def remove_expired(self, now: float) -> int:
        removed = 0
        for upload_id in await self._listed_ids():
            try:
                raw, _ = await cas.read(self.api, self.key(upload_id, "state"))
                if raw is None:  # a removal that crashed after deleting the state
                    await self.take_lease(upload_id)
                    await self.delete_all(upload_id)
                    continue
                state = decode_state(raw)
                if state.publishing and await self.blob_exists(upload_id):
                    await self.delete_all(upload_id)  # published; its clean-up did not finish
                elif state.info.expires <= now:
                    await self.take_lease(upload_id)
                    await self.delete_all(upload_id)
                    removed += 1
            except (PartialBusy, PartialNotFound):
                continue
            except (S3Error, OSError, ValueError) as exc:
                log.warning("could not expire partial upload %s: %s", upload_id, exc)
        return removed

    # -- the lease ----------------------------------------------------------------------

    async def take_lease(self, upload_id: str) -> str:
        """Hold the upload (see the module docstring); the holder's token."""
        holder, now = secrets.token_hex(16), self.clock()

        def take(raw: bytes | None) -> tuple[bytes | None, bool]:
            if raw is not None:
                current, until = decode_lease(raw)
                if current is not None and until > now:
                    return None, False
            return encode_lease(holder, now + self.lease_seconds), True
        try:
            taken = await cas.update(self.api, self.key(upload_id, "lease"), take, attempts=3)
        except cas.Contended:
            taken = False
        if not taken:
            raise PartialBusy(upload_id)
        return holder

    async def renew_lease(self, upload_id: str, holder: str) -> bool:
        now = self.clock()

        def renew(raw: bytes | None) -> tuple[bytes | None, bool]:
            if raw is None or decode_lease(raw)[0] != holder:
                return None, False
            return encode_lease(holder, now + self.lease_seconds), True
        try:
            return await cas.update(self.api, self.key(upload_id, "lease"), renew)
        except cas.Contended:
            return False

    async def drop_lease(self, upload_id: str, holder: str, gone: bool = False) -> None:
        """Release the lease if ``holder`` still has it (delete it when the
        upload is ``gone``). Never raises: an unreleased lease runs out."""
        key = self.key(upload_id, "lease")
        try:
            if gone:
                await self.api.delete_object(key)
                return

            def release(raw: bytes | None) -> tuple[bytes | None, None]:
                if raw is None or decode_lease(raw)[0] != holder:
                    return None, None
                return encode_lease(None, 0.0), None
            await cas.update(self.api, key, release)
        except (S3Error, OSError, ValueError, cas.Contended) as exc:
            log.warning("could not release partial upload %s: %s", upload_id, exc)

    # -- objects ------------------------------------------------------------------------

    async def _listed_ids(self) -> list[str]:
        ids: set[str] = set()
        after = ""
        while True:
            page = await self.api.list_objects(self.root, start_after=after)
            ids.update(info.key[len(self.root):].partition("/")[0] for info in page)
            if len(page) < 1000:
                return sorted(i for i in ids if SAFE_ID.match(i))
            after = page[-1].key

    async def delete_all(self, upload_id: str) -> None:
        """Every object of the upload: the state first (the upload is gone
        from then on), the lease last (nobody takes it meanwhile)."""
        prefix = self.key(upload_id, "")
        await self.api.delete_object(prefix + "state")
        while True:
            page = await self.api.list_objects(prefix)
            rest = [info.key for info in page if not info.key.endswith("/lease")]
            for key in rest:
                await self.api.delete_object(key)
            if len(page) < 1000 or not rest:
                break
        await self.api.delete_object(prefix + "lease")

    async def read_segment(self, upload_id: str, segment: Segment, start: int, size: int) -> bytes:
        stream = await self.api.open_stream(self.key(upload_id, segment.name), start, start + size - 1)
        try:
            out = bytearray()
            while len(out) < size:
                chunk = await stream.read(min(READ_SLICE, size - len(out)))
                if not chunk:
                    raise OSError(f"partial upload {upload_id}: segment {segment.name} ended early")
                out += chunk
            return bytes(out)
        finally:
            stream.close()
