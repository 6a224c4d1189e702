"""Resumable uploads (the use cases behind tus), on the storage port's
``Resumable`` capability.

An upload is created with its length (or with the length deferred), grows by
appends that each start exactly where it stands, and once its last byte is in
it becomes an ordinary stored file under the same id, through the very commit
step of a plain upload (``UploadService.commit``): same record, same metadata,
same sha256. What the client said at creation (an ``UploadRequest``) is kept
with the partial upload and handed to that step at the end.

The sha256 of the whole file, without reading it again where possible. Hash
state cannot be saved (hashlib objects do not serialise), so each process keeps
in memory, per upload it appended to, the running sha256 and the offset it
covers (``RunningHashes``, a bounded LRU of a few hundred bytes per upload).
An append that starts at that offset continues it: a 1 GiB upload in 128
appends is hashed once, as it arrives, like a plain upload. Each append hashes
a copy, kept only once the store has recorded the append, so a discarded chunk
never enters it. When the state is missing (the process restarted, another
worker took some appends, or the entry was evicted), nothing is hashed per
append; the append that completes the upload re-reads the bytes from the
store once, and fails if the store holds fewer than it recorded. Re-reading
at the end rather than at each append keeps the cost linear: with several
workers, a client that opens a new connection per append may reach a
different worker every time.

An append cut off by the client (connection lost, or a body that stalled)
keeps the bytes that arrived, like tusd, so that a client sending the whole
file in one request resumes where it broke off, not from zero; unless the
append carried a checksum, which a part of the chunk cannot match. Any other
failure (a checksum mismatch, a limit, a malformed body) keeps nothing of the
append. A crash keeps what the store had recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from domain.errors import (
    ChecksumMismatch,
    EmptyUpload,
    FileNotFound,
    LengthConflict,
    OffsetMismatch,
    PastLength,
    StorageFull,
    UploadFinished,
    UploadLocked,
    UploadTooLarge,
)
from domain.lifecycle import Uploaded
from domain.model import StoredFile
from domain.services import UNTHROTTLED_READ, CheckService, UploadRequest, UploadService
from domain.terms import UploadTerms
from ports.hashing import RunningHash
from ports.ids import IdIssuer
from ports.storage import PartialAppender, PartialBusy, PartialInfo, PartialNotFound, Resumable
from ports.storage import StorageFull as BlobStorageFull
from ports.throttle import Clock, Throttle
from ports.transfer import ByteSource

log = logging.getLogger("uds.resumable")

CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")
RUNNING_HASHES = 4096  # uploads whose running sha256 a process keeps (about 200 bytes each)
REHASH_SLICE = 1 << 20


@dataclass(frozen=True)
class Checksum:
    """The checksum a client sent for one append's bytes."""

    algorithm: str  # one of CHECKSUM_ALGORITHMS
    digest: bytes


@dataclass(frozen=True)
class Append:
    """What the client said about one append before sending it."""

    offset: int
    declared_size: int | None = None  # the chunk's length, when known up front
    length: int | None = None  # the upload's length, sent with an append once it was deferred
    checksum: Checksum | None = None


@dataclass(frozen=True)
class Progress:
    """An upload still in progress. ``expires`` in epoch seconds;
    ``client_metadata`` is what the client attached at creation, returned
    as it was given."""

    id: str
    offset: int
    length: int | None
    expires: float
    request: UploadRequest
    client_metadata: str


def partial_metadata(request: UploadRequest, client_metadata: str) -> dict[str, str]:
    """What the store keeps with a partial upload: the creation request (every
    field of ``UploadRequest``, so that a field added to it reaches the commit
    step of resumable uploads too) and the client's own metadata."""
    return {"request": json.dumps(dataclasses.asdict(request)), "client_metadata": client_metadata}


def request_of(metadata: Mapping[str, str]) -> UploadRequest:
    """The creation request back from ``partial_metadata`` (a field missing
    from an older record takes its default, else ``None``)."""
    saved = json.loads(metadata.get("request", "{}"))
    values: dict[str, Any] = {}
    for field in dataclasses.fields(UploadRequest):
        if field.name in saved:
            values[field.name] = saved[field.name]
        elif field.default_factory is not dataclasses.MISSING:
            values[field.name] = field.default_factory()
        else:
            values[field.name] = None if field.default is dataclasses.MISSING else field.default
    if isinstance(values.get("terms"), dict):
        values["terms"] = UploadTerms(**values["terms"])
    return UploadRequest(**values)


class RunningHashes:
    """Per upload, the sha256 of its first ``offset`` bytes as this process
    appended them; the least recently used go first beyond ``capacity``."""

    def __init__(self, capacity: int = RUNNING_HASHES) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()

    def resume(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        """A copy of the state covering exactly ``offset`` bytes, or ``None``."""
        entry = self._entries.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        self._entries.move_to_end(upload_id)
        return entry[1].copy()

    def keep(self, upload_id: str, offset: int, digest: hashlib._Hash) -> None:
        self._entries[upload_id] = (offset, digest)
        self._entries.move_to_end(upload_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        self._entries.pop(upload_id, None)

    def __len__(self) -> int:
        return len(self._entries)


class ResumableService:
    """Create, inspect, append to and terminate resumable uploads."""

    def __init__(self, store: Resumable, uploads: UploadService, check: CheckService, ids: IdIssuer,
                 clock: Clock, ttl: float, max_size: int, hashes: RunningHashes | None = None) -> None:
        """``ttl``: seconds an upload may go without an append before it
        expires; ``max_size`` in bytes, 0 for unlimited."""
        self._store = store
        self._uploads = uploads
        self._check = check
        self._ids = ids
        self._clock = clock
        self._ttl = ttl
        self._max_size = max_size
        self.hashes = hashes or RunningHashes()

    def _plausible(self, upload_id: str) -> None:
        if not self._ids.is_valid_id(upload_id):
            raise FileNotFound(upload_id)

    def _progress(self, upload_id: str, info: PartialInfo) -> Progress:
        return Progress(upload_id, info.offset, info.length, info.expires, request_of(info.metadata),
                        info.metadata.get("client_metadata", ""))

    async def create(self, request: UploadRequest, client_metadata: str = "") -> Progress:
        """A new, empty upload of ``request.declared_size`` bytes (``None``:
        deferred). Refused like a plain upload: empty, over the size limit, or
        not fitting in the store."""
        self._uploads.precheck(request.declared_size)
        upload_id = self._ids.new_id()
        try:
            info = await self._store.create_partial(upload_id, request.declared_size,
                                                    self._clock.wall() + self._ttl,
                                                    partial_metadata(request, client_metadata))
        except BlobStorageFull:
            raise StorageFull() from None
        self.hashes.keep(upload_id, 0, hashlib.sha256())
        return self._progress(upload_id, info)

    async def status(self, upload_id: str) -> Progress | StoredFile:
        """The upload's progress, or the stored file it became."""
        self._plausible(upload_id)
        try:
            info = await self._store.partial_info(upload_id)
        except PartialNotFound:
            return (await self._check.check(upload_id)).file
        if info.expires <= self._clock.wall():
            raise FileNotFound(upload_id)  # expired; the janitor has not come by yet
        return self._progress(upload_id, info)

    async def terminate(self, upload_id: str) -> None:
        """Remove an upload in progress. A finished one is a stored file whose
        id is in its download link, which others may hold: not removable here."""
        self._plausible(upload_id)
        try:
            await self._store.remove_partial(upload_id)
        except PartialBusy:
            raise UploadLocked() from None
        except PartialNotFound:
            await self._check.check(upload_id)  # FileNotFound when it is not a file either
            raise UploadFinished() from None
        self.hashes.forget(upload_id)

    async def append(self, upload_id: str, append: Append, body: ByteSource,
                     throttle: Throttle) -> Progress | StoredFile | Uploaded:
        """Append ``body`` at ``append.offset``: the new progress; or, from the
        append that brings the last byte, the ``Uploaded`` file with its
        delete token (shown once, to this client); or the ``StoredFile``
        when the upload had been finished already (a repeated last append)."""
        self._plausible(upload_id)
        try:
            appender = await self._store.open_append(upload_id)
        except PartialBusy:
            raise UploadLocked() from None
        except PartialNotFound:
            stored = (await self._check.check(upload_id)).file
            if append.offset != stored.size:
                raise OffsetMismatch(stored.size, append.offset) from None
            if append.declared_size:
                raise PastLength(stored.size) from None
            return stored  # a repeated last append of a finished upload
        try:
            return await self._append(upload_id, appender, append, body, throttle)
        except BaseException:
            await appender.abort()  # nothing, after save or commit
            raise

    def _length(self, info: PartialInfo, append: Append) -> int | None:
        """The upload's length after this append's ``Upload-Length``, checked."""
        if append.length is None or append.length == info.length:
            return info.length
        if info.length is not None:
            raise LengthConflict(f"the upload's length is {info.length}, not {append.length}")
        if append.length < info.offset:
            raise LengthConflict(f"{info.offset} bytes were received already, more than {append.length}")
        if append.length == 0:
            raise EmptyUpload()
        if self._max_size and append.length > self._max_size:
            raise UploadTooLarge(self._max_size)
        return append.length

    async def _append(self, upload_id: str, appender: PartialAppender, append: Append, body: ByteSource,
                      throttle: Throttle) -> Progress | Uploaded:
        info = appender.info
        if info.expires <= self._clock.wall():
            raise FileNotFound(upload_id)
        if append.offset != info.offset:
            raise OffsetMismatch(info.offset, append.offset)
        length = self._length(info, append)
        limit = length if length is not None else self._max_size or None
        if limit is not None and append.declared_size is not None and info.offset + append.declared_size > limit:
            raise PastLength(limit) if length is not None else UploadTooLarge(limit)
        hashing = self._uploads.hashing
        resumed = self.hashes.resume(upload_id, info.offset)
        running = hashing.stream(resumed) if resumed is not None else None
        check = hashing.stream(hashlib.new(append.checksum.algorithm)) if append.checksum else None
        received = 0
        slice_size = UNTHROTTLED_READ if throttle.unlimited else throttle.chunk_size
        events = self._uploads.events
        events.upload_started()
        try:
            while chunk := await body.read(slice_size):
                received += len(chunk)
                if limit is not None and info.offset + received > limit:
                    raise PastLength(limit) if length is not None else UploadTooLarge(limit)
                if not throttle.unlimited:
                    await throttle.acquire(len(chunk))
                if running is not None:
                    await running.update(chunk)
                if check is not None:
                    await check.update(chunk)
                await appender.write(chunk)
        except (ConnectionError, TimeoutError):
            if received and check is None:  # keep what arrived (see the module docstring)
                await self._save(upload_id, appender, length, running)
            raise
        finally:
            events.upload_ended()
        if check is not None and append.checksum is not None and \
                (await check.settle()).digest() != append.checksum.digest:
            raise ChecksumMismatch(append.checksum.algorithm)
        offset = info.offset + received
        if length is None or offset < length:
            return await self._save(upload_id, appender, length, running)
        sha256 = ((await running.settle()).hexdigest() if running is not None
                  else await self._rehash(upload_id, appender, offset))
        try:
            uploaded = await self._uploads.commit(appender, upload_id, request_of(info.metadata), offset, sha256)
        except BlobStorageFull:
            raise StorageFull() from None
        self.hashes.forget(upload_id)
        # Its delete token goes to the client that sent this last append only:
        # GET /files/<id> and HEAD never show it (the upload URL is no secret).
        return uploaded

    async def _save(self, upload_id: str, appender: PartialAppender, length: int | None,
                    running: RunningHash | None) -> Progress:
        try:
            info = await appender.save(length, self._clock.wall() + self._ttl)
        except BlobStorageFull:
            raise StorageFull() from None
        if running is not None:
            self.hashes.keep(upload_id, info.offset, await running.settle())
        return self._progress(upload_id, info)

    async def _rehash(self, upload_id: str, appender: PartialAppender, size: int) -> str:
        """The sha256 of the upload's ``size`` bytes, read back from the store."""
        log.info("upload %s: no running sha256 in this process, reading %d bytes back", upload_id, size)
        digest = self._uploads.hashing.stream(hashlib.sha256())
        offset = 0
        while offset < size:
            data = await appender.read_at(offset, min(REHASH_SLICE, size - offset))
            if not data:
                raise OSError(f"upload {upload_id} holds {offset} bytes, fewer than the {size} recorded")
            await digest.update(data)
            offset += len(data)
        return (await digest.settle()).hexdigest()


class PartialJanitor:
    """Removes abandoned partial uploads: once when ``run`` starts, then every
    ``interval`` seconds. The store scans off the event loop."""

    def __init__(self, store: Resumable, clock: Clock, interval: float) -> None:
        self._store = store
        self._clock = clock
        self.interval = interval

    async def sweep(self) -> int:
        """One pass; how many uploads were removed."""
        return await self._store.remove_expired(self._clock.wall())

    async def run(self) -> None:
        """Sweep until cancelled. A failed pass is logged and retried later."""
        while True:
            try:
                removed = await self.sweep()
            except OSError as exc:
                log.warning("removing expired uploads failed: %s", exc)
            else:
                if removed:
                    log.info("%d expired partial upload(s) removed", removed)
            await self._clock.sleep(self.interval)
