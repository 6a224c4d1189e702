"""Upload, check, download and delete: the use cases, on the storage, id,
throttle and clock ports, and the ledger through ``Lifecycle``.

A file exists for clients only while its ledger record says it is available:
a blob without a record (an upload that crashed between its commit and its
ledger record) answers 404 like an expired or deleted file, until the next
start-up adopts it (``adapters/adoption.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from domain.errors import EmptyUpload, FileNotFound, QuotaExceeded, StorageFull, UploadTooLarge
from domain.hashing import InlineHashing
from domain.lifecycle import Lease, Lifecycle, Uploaded
from domain.memo import IdentityMemo
from domain.model import StoredFile, clean_content_type, clean_name, generated_name, stored_from_info
from domain.terms import UploadTerms
from ports.hashing import Hashing
from ports.ids import IdIssuer
from ports.ledger import Record
from ports.metrics import ServiceEvents
from ports.storage import BlobInfo, BlobNotFound, BlobReader, BlobWriter, Storage
from ports.storage import StorageFull as BlobStorageFull
from ports.throttle import Clock, Throttle
from ports.transfer import ByteSink, ByteSource

log = logging.getLogger("uds.upload")

# Largest body slice pulled at once when no limit applies. Bigger slices mean
# fewer round trips through the store; the transport bounds what it buffers.
UNTHROTTLED_READ = 1 << 20


@dataclass(frozen=True)
class UploadRequest:
    """What the client said about the upload before sending it. ``client``
    is the uploader's address, kept in the ledger record."""

    name: str | None
    content_type: str | None
    declared_size: int | None
    terms: UploadTerms = field(default_factory=UploadTerms)
    client: str = ""


class UploadService:
    """Streams a body into the store, hashing as it goes, commits it under a
    fresh id, then adds its ledger record. Nothing is visible unless the whole
    body arrived and the record was added."""

    def __init__(self, storage: Storage, ids: IdIssuer, clock: Clock, max_size: int,
                 lifecycle: Lifecycle, hashing: Hashing | None = None) -> None:
        """``max_size`` in bytes; 0 means unlimited. ``hashing``: where the
        sha256 of the bodies is computed (default: as they arrive, inline)."""
        self._storage = storage
        self._ids = ids
        self._clock = clock
        self._max_size = max_size
        self._lifecycle = lifecycle
        self.hashing: Hashing = hashing or InlineHashing()

    @property
    def events(self) -> ServiceEvents:
        return self._lifecycle.events

    @property
    def max_size(self) -> int:
        """The largest accepted file, bytes; 0 means unlimited."""
        return self._max_size

    def precheck(self, declared_size: int | None) -> None:
        """Refuse a declared size before any byte is read (so the transport can
        answer instead of ``100 Continue``)."""
        if declared_size is not None:
            if declared_size == 0:
                raise EmptyUpload()
            if self._max_size and declared_size > self._max_size:
                raise UploadTooLarge(self._max_size)

    async def upload(self, request: UploadRequest, body: ByteSource, throttle: Throttle) -> Uploaded:
        """Store the body. The quota (``--max-storage``) is checked from the
        declared size before any byte is read, against the size so far while
        the body streams, and once more against the ledger's total before the
        commit (uploads of other processes committed meanwhile count there)."""
        self.precheck(request.declared_size)
        room = await self._lifecycle.room()
        if room is not None and (request.declared_size or 0) > room:
            raise QuotaExceeded(self._lifecycle.policy.max_storage)
        file_id = self._ids.new_id()
        try:
            writer = await self._storage.open_writer(file_id, request.declared_size)
        except BlobStorageFull:
            raise StorageFull() from None
        events = self._lifecycle.events
        events.upload_started()
        try:
            digest = self.hashing.stream(hashlib.sha256())
            size = 0
            slice_size = UNTHROTTLED_READ if throttle.unlimited else throttle.chunk_size
            while chunk := await body.read(slice_size):
                size += len(chunk)
                if self._max_size and size > self._max_size:
                    raise UploadTooLarge(self._max_size)
                if room is not None and size > room:
                    raise QuotaExceeded(self._lifecycle.policy.max_storage)
                if not throttle.unlimited:
                    await throttle.acquire(len(chunk))
                await digest.update(chunk)
                await writer.write(chunk)
            if size == 0:
                raise EmptyUpload()
            sha256 = (await digest.settle()).hexdigest()
        except BlobStorageFull:
            await writer.abort()
            raise StorageFull() from None
        except BaseException:
            await writer.abort()
            raise
        finally:
            events.upload_ended()
        return await self.commit(writer, file_id, request, size, sha256)

    async def _forget(self, file_id: str) -> None:
        """Delete a committed blob whose ledger record could not be added."""
        try:
            await self._storage.delete(file_id)
        except Exception as exc:  # it answers 404; the next start-up adopts it
            log.error("could not delete blob %s, which has no ledger record: %s", file_id, exc)

    async def discard(self, file_id: str) -> None:
        """Remove a file this service just stored, when what it came with
        failed after it (a form is stored all or nothing): the blob, then its
        ledger record. Gone already is fine."""
        await self._lifecycle.discard(file_id)

    async def commit(self, writer: BlobWriter, file_id: str, request: UploadRequest, size: int,
                     sha256: str) -> Uploaded:
        """The last step of every upload, plain or resumable (``domain/resumable.py``):
        the file record made from what the client said and what arrived, the
        quota checked against the ledger's total at this moment, the blob
        committed, then its ledger record added (expiry, download limit,
        delete token). What must happen to every stored file belongs here.
        On failure the writer is aborted (or the committed blob deleted)."""
        content_type = clean_content_type(request.content_type)
        stored = StoredFile(
            id=file_id,
            name=clean_name(request.name) or generated_name(file_id, content_type),
            size=size,
            content_type=content_type,
            sha256=sha256,
            created=datetime.fromtimestamp(int(self._clock.wall()), timezone.utc),
        )
        try:
            await self._lifecycle.require_room(size)
            await writer.commit(stored.to_metadata())
        except BlobStorageFull:
            await writer.abort()
            raise StorageFull() from None
        except BaseException:
            await writer.abort()
            raise
        try:
            return await self._lifecycle.register(stored, request.terms, request.client)
        except asyncio.CancelledError:
            # Cancelled while the ledger adds the record (the shutdown timeout):
            # the add may still happen. Delete the blob anyway: a record
            # without its blob answers 404 and goes at its expiry, while a
            # blob without a record would stay until the next start-up.
            asyncio.ensure_future(self._forget(file_id))
            raise
        except BaseException:
            await self._forget(file_id)
            raise


def _require_plausible(ids: IdIssuer, file_id: str) -> None:
    """Anything that is not exactly an id is not found, before any storage
    access: ``..``, slashes, encoded bytes never reach the store."""
    if not ids.is_valid_id(file_id):
        raise FileNotFound(file_id)


@dataclass(frozen=True)
class CheckedFile:
    """A file as a check shows it: its blob's metadata and its ledger record."""

    file: StoredFile
    record: Record


class CheckService:
    """Answers whether a file exists, from metadata only (O(1)): the ledger
    record (is it available?) and the blob's metadata."""

    def __init__(self, storage: Storage, ids: IdIssuer, lifecycle: Lifecycle) -> None:
        self._storage = storage
        self._ids = ids
        self._lifecycle = lifecycle
        self._parsed: IdentityMemo[BlobInfo, StoredFile] = IdentityMemo(stored_from_info)

    async def check(self, file_id: str) -> CheckedFile:
        _require_plausible(self._ids, file_id)
        record = await self._lifecycle.available(file_id)
        try:
            info = await self._storage.stat(file_id)
        except BlobNotFound:
            raise FileNotFound(file_id) from None
        return CheckedFile(self._parsed.get(file_id, info), record)


@dataclass
class OpenedFile:
    """A file held open for download: its metadata, its ledger record (as it
    was when opened) and a reader the caller must close (``reader.close()``)."""

    file: StoredFile
    reader: BlobReader
    record: Record


class DownloadService:
    """Opens files and sends byte ranges of them at the pace a throttle
    allows; counts the downloads of files that have a limit."""

    def __init__(self, storage: Storage, ids: IdIssuer, lifecycle: Lifecycle, clock: Clock) -> None:
        self._storage = storage
        self._ids = ids
        self._lifecycle = lifecycle
        self._clock = clock
        self._parsed: IdentityMemo[BlobInfo, StoredFile] = IdentityMemo(stored_from_info)

    async def open(self, file_id: str) -> OpenedFile:
        """Open an available file (``FileNotFound`` otherwise). Opening counts
        nothing: ``reserve`` admits a download that delivers the last byte."""
        _require_plausible(self._ids, file_id)
        record = await self._lifecycle.available(file_id)
        try:
            reader = await self._storage.open_reader(file_id)
        except BlobNotFound:
            raise FileNotFound(file_id) from None
        return OpenedFile(self._parsed.get(file_id, reader.info), reader, record)

    async def reserve(self, opened: OpenedFile) -> Lease:
        """Admit a response that will deliver the file's last byte (call it
        before answering: it may raise ``DownloadsBusy`` or ``FileNotFound``).
        The lease goes to ``send``, or to ``Lease.release`` if none follows."""
        return await self._lifecycle.reserve(opened.record)

    async def send(self, opened: OpenedFile, offset: int, count: int, sink: ByteSink, throttle: Throttle,
                   lease: Lease | None = None) -> None:
        """Send ``count`` bytes from ``offset`` (already validated against the
        size), ending with the file's last byte when ``lease`` is given. A
        counted lease is renewed while the bytes go and settled (confirmed and
        counted) before the last byte; if the response breaks off before, its
        slot is released and nothing counts. After the last download of a
        file the file is deleted (its blob, then its record)."""
        events = self._lifecycle.events
        events.download_started()
        complete = False
        try:
            await self._deliver(opened, offset, count, sink, throttle, lease)
            complete = True
        finally:
            events.download_ended(complete)

    async def _deliver(self, opened: OpenedFile, offset: int, count: int, sink: ByteSink, throttle: Throttle,
                       lease: Lease | None) -> None:
        if lease is None or not lease.counted:
            await self._send(opened, offset, count, sink, throttle)
            return
        try:
            async with lease.kept(self._clock):
                await self._send(opened, offset, count - 1, sink, throttle)
                await lease.settle()
        except BaseException:
            lease.release()
            raise
        await self._send(opened, offset + count - 1, 1, sink, throttle)
        await lease.finish()

    async def _send(self, opened: OpenedFile, offset: int, count: int, sink: ByteSink, throttle: Throttle) -> None:
        """Unthrottled, the sink picks its fastest path; throttled, the bytes
        go in ``throttle.chunk_size`` slices, each paid for before it is read,
        so nothing is buffered ahead of the limit."""
        if throttle.unlimited:
            await sink.send_blob(opened.reader, offset, count)
            return
        end = offset + count
        while offset < end:
            want = min(throttle.chunk_size, end - offset)
            await throttle.acquire(want)
            data = await opened.reader.read_at(offset, want)
            if not data:
                raise OSError(f"file {opened.file.id} is shorter than its recorded size")
            await sink.write(data)
            offset += len(data)


class DeleteService:
    """Deletes a file on its delete token (see ``Lifecycle.delete``)."""

    def __init__(self, ids: IdIssuer, lifecycle: Lifecycle) -> None:
        self._ids = ids
        self._lifecycle = lifecycle

    async def delete(self, file_id: str, token: str | None) -> None:
        _require_plausible(self._ids, file_id)
        await self._lifecycle.delete(file_id, token)
