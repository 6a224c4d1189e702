"""Upload, check and download: the use cases, on the storage, id, throttle
and clock ports only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from domain.errors import EmptyUpload, FileNotFound, StorageFull, UploadTooLarge
from domain.memo import IdentityMemo
from domain.model import StoredFile, clean_content_type, clean_name, generated_name, stored_from_info
from ports.ids import IdIssuer
from ports.storage import BlobInfo, BlobNotFound, BlobReader, BlobWriter, Storage
from ports.storage import StorageFull as BlobStorageFull
from ports.throttle import Clock, Throttle
from ports.transfer import ByteSink, ByteSource

# Largest body slice pulled at once when no limit applies. Bigger slices mean
# fewer round trips through the store; the transport bounds what it buffers.
UNTHROTTLED_READ = 1 << 20


@dataclass(frozen=True)
class UploadRequest:
    """What the client said about the upload before sending it."""

    name: str | None
    content_type: str | None
    declared_size: int | None


class UploadService:
    """Streams a body into the store, hashing as it goes, and commits it
    under a fresh id. Nothing is visible unless the whole body arrived."""

    def __init__(self, storage: Storage, ids: IdIssuer, clock: Clock, max_size: int) -> None:
        """``max_size`` in bytes; 0 means unlimited."""
        self._storage = storage
        self._ids = ids
        self._clock = clock
        self._max_size = max_size

    def precheck(self, declared_size: int | None) -> None:
        """Refuse a declared size before any byte is read (so the transport can
        answer instead of ``100 Continue``)."""
        if declared_size is not None:
            if declared_size == 0:
                raise EmptyUpload()
            if self._max_size and declared_size > self._max_size:
                raise UploadTooLarge(self._max_size)

    async def upload(self, request: UploadRequest, body: ByteSource, throttle: Throttle) -> StoredFile:
        self.precheck(request.declared_size)
        file_id = self._ids.new_id()
        try:
            writer = await self._storage.open_writer(file_id, request.declared_size)
        except BlobStorageFull:
            raise StorageFull() from None
        try:
            digest = hashlib.sha256()
            size = 0
            slice_size = UNTHROTTLED_READ if throttle.unlimited else throttle.chunk_size
            while chunk := await body.read(slice_size):
                size += len(chunk)
                if self._max_size and size > self._max_size:
                    raise UploadTooLarge(self._max_size)
                if not throttle.unlimited:
                    await throttle.acquire(len(chunk))
                digest.update(chunk)
                await writer.write(chunk)
            if size == 0:
                raise EmptyUpload()
            stored = await self.commit(writer, file_id, request, size, digest.hexdigest())
        except BlobStorageFull:
            await writer.abort()
            raise StorageFull() from None
        except BaseException:
            await writer.abort()
            raise
        return stored

    async def commit(self, writer: BlobWriter, file_id: str, request: UploadRequest, size: int,
                     sha256: str) -> StoredFile:
        """The last step of every upload, plain or resumable (``domain/resumable.py``):
        the file record made from what the client said and what arrived,
        committed with the blob. What must happen to every stored file
        belongs here. Raises what ``writer.commit`` raises."""
        content_type = clean_content_type(request.content_type)
        stored = StoredFile(
            id=file_id,
            name=clean_name(request.name) or generated_name(file_id, content_type),
            size=size,
            content_type=content_type,
            sha256=sha256,
            created=datetime.fromtimestamp(int(self._clock.wall()), timezone.utc),
        )
        await writer.commit(stored.to_metadata())
        return stored


def _require_plausible(ids: IdIssuer, file_id: str) -> None:
    """Anything that is not exactly an id is not found, before any storage
    access: ``..``, slashes, encoded bytes never reach the store."""
    if not ids.is_valid_id(file_id):
        raise FileNotFound(file_id)


class CheckService:
    """Answers whether a file exists, from metadata only (O(1))."""

    def __init__(self, storage: Storage, ids: IdIssuer) -> None:
        self._storage = storage
        self._ids = ids
        self._parsed: IdentityMemo[BlobInfo, StoredFile] = IdentityMemo(stored_from_info)

    async def check(self, file_id: str) -> StoredFile:
        _require_plausible(self._ids, file_id)
        try:
            info = await self._storage.stat(file_id)
        except BlobNotFound:
            raise FileNotFound(file_id) from None
        return self._parsed.get(file_id, info)


@dataclass
class OpenedFile:
    """A file held open for download: its metadata and a reader the caller
    must close (``reader.close()``)."""

    file: StoredFile
    reader: BlobReader


class DownloadService:
    """Opens files and sends byte ranges of them at the pace a throttle allows."""

    def __init__(self, storage: Storage, ids: IdIssuer) -> None:
        self._storage = storage
        self._ids = ids
        self._parsed: IdentityMemo[BlobInfo, StoredFile] = IdentityMemo(stored_from_info)

    async def open(self, file_id: str) -> OpenedFile:
        _require_plausible(self._ids, file_id)
        try:
            reader = await self._storage.open_reader(file_id)
        except BlobNotFound:
            raise FileNotFound(file_id) from None
        return OpenedFile(self._parsed.get(file_id, reader.info), reader)

    async def send(self, opened: OpenedFile, offset: int, count: int, sink: ByteSink, throttle: Throttle) -> None:
        """Send ``count`` bytes from ``offset`` (already validated against the
        size). Unthrottled, the sink picks its fastest path; throttled, the
        bytes go in ``throttle.chunk_size`` slices, each paid for before it is
        read, so nothing is buffered ahead of the limit."""
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
