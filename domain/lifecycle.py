"""How long a stored file lives and how often it may be downloaded.

The upload terms and the service's policy (``domain/terms.py``) applied: the
records of new files, the quota, the delete token, the download leases and
the removal of a file, on the ledger, storage and clock ports only. Blobs
never change: what does lives in the ledger (see ``ports/ledger.py`` for the
protocol this follows). Times handed to the ledger are wall-clock epoch
seconds (``Clock.wall``), which every worker process reads alike.

Removal order: the blob first, then the ledger record. A crash in between
leaves a record without a blob, which answers 404 and which ``expired`` still
lists for the janitor; the other order could leave a blob that nothing lists.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Awaitable, Callable, TypeVar

from domain.errors import DeleteForbidden, DeleteUnauthorized, DownloadsBusy, FileNotFound, LedgerBusy, QuotaExceeded
from domain.model import StoredFile
from domain.terms import LifecyclePolicy, UploadTerms
from ports.ledger import Ledger, LedgerUnavailable, Record, Reservation
from ports.metrics import NO_EVENTS, ServiceEvents
from ports.storage import BlobNotFound, Storage
from ports.throttle import Clock

log = logging.getLogger("uds.files")

T = TypeVar("T")

DELETE_TOKEN_BYTES = 24        # 192 random bits; only their SHA-256 is stored
MAX_TOKEN_CHARS = 128          # longer tokens are wrong without hashing them
LEASE_SECONDS = 30.0           # how long a download holds its slot without renewing (a killed worker's, at most)
RENEW_EVERY = LEASE_SECONDS / 3
# A lease ending later than this is not renewed once more before it is settled:
# the count that follows has that long to win the ledger's write lock (which
# waits up to 10 s) before the slot could go to another download.
SETTLE_MARGIN = LEASE_SECONDS * 2 / 3
BUSY_RETRY_AFTER = 5           # seconds, in the 503 of a download whose every slot is in progress
LEDGER_RETRY_AFTER = 2         # seconds, in the 503 of a ledger that could not answer


def token_hash(token: str) -> str:
    """What the ledger keeps of a delete token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_delete_token() -> str:
    return secrets.token_urlsafe(DELETE_TOKEN_BYTES)


def rfc3339(epoch: float | None) -> str | None:
    """``2026-11-26T04:09:22Z`` (whole seconds, rounded down), or ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Uploaded:
    """A committed upload with its ledger record and its delete token (the
    token is shown once, in the upload's answer, and never stored)."""

    file: StoredFile
    record: Record
    delete_token: str


class LeaseLost(ConnectionAbortedError):
    """A counted download's lease ran out before its last byte: the slot may
    have gone to another download, so the response is aborted without it.
    A ``ConnectionError``: the transport aborts the connection, as when the
    peer is gone."""


class Lifecycle:
    """Expiry, download counting, deletion and the quota, over one ledger."""

    def __init__(self, ledger: Ledger, storage: Storage, clock: Clock, policy: LifecyclePolicy,
                 new_token: Callable[[], str] = new_delete_token, events: ServiceEvents = NO_EVENTS) -> None:
        """``events``: told of what the services do (for the metrics)."""
        self.ledger = ledger
        self.policy = policy
        self.events = events
        self._storage = storage
        self._clock = clock
        self._new_token = new_token

    def now(self) -> float:
        return self._clock.wall()

    async def call(self, step: Awaitable[T]) -> T:
        """A ledger step, its ``LedgerUnavailable`` as ``LedgerBusy`` (503)."""
        try:
            return await step
        except LedgerUnavailable as exc:
            log.warning("%s", exc)
            raise LedgerBusy(LEDGER_RETRY_AFTER) from None

    # -- uploads ---------------------------------------------------------------------

    async def room(self) -> int | None:
        """Bytes the quota still allows (may be negative), ``None`` without a
        quota. From the ledger's running total: no scan."""
        if not self.policy.max_storage:
            return None
        return self.policy.max_storage - await self.call(self.ledger.total_bytes())

    async def stored(self) -> tuple[int, int]:
        """How many files the ledger holds, and their total size (bytes):
        running totals, no scan."""
        return await self.call(self.ledger.total_files()), await self.call(self.ledger.total_bytes())

    async def require_room(self, size: int) -> None:
        """Raise ``QuotaExceeded`` (507) unless ``size`` more bytes fit."""
        room = await self.room()
        if room is not None and size > room:
            raise QuotaExceeded(self.policy.max_storage)

    async def register(self, stored: StoredFile, terms: UploadTerms, client: str) -> Uploaded:
        """Add the ledger record of a committed blob (the caller deletes the
        blob if this raises). Its life starts at the blob's ``created``."""
        token = self._new_token()
        created = stored.created.timestamp()
        life = self.policy.life(terms.life)
        record = Record(id=stored.id, size=stored.size, created=created,
                        expires=None if life is None else created + life, max_downloads=terms.max_downloads,
                        downloads=0, delete_token_hash=token_hash(token), client=client)
        await self.call(self.ledger.add(record))
        self.events.upload_stored()
        return Uploaded(stored, record, token)

    def adopted(self, stored: StoredFile) -> Record:
        """The record given to a blob found without one at start-up (see
        ``adapters/adoption.py``): the default life counted from now, no
        download limit, and the hash of a delete token nobody was told."""
        life = self.policy.life(None)
        return Record(id=stored.id, size=stored.size, created=stored.created.timestamp(),
                      expires=None if life is None else int(self.now()) + life, max_downloads=None,
                      downloads=0, delete_token_hash=token_hash(self._new_token()), client="")

    # -- checks and downloads ---------------------------------------------------------

    async def available(self, file_id: str) -> Record:
        """The record of a file that may be checked and downloaded now;
        ``FileNotFound`` for a missing, expired, used-up or deleted one."""
        record = await self.call(self.ledger.get(file_id))
        if record is None or not record.available(self.now()):
            raise FileNotFound(file_id)
        return record

    async def reserve(self, record: Record) -> Lease:
        """Admit a download that will deliver the file's last byte. A file
        without a limit needs no ledger step (its availability was just
        read). Raises ``FileNotFound`` when the file has gone meanwhile, and
        ``DownloadsBusy`` (503) when downloads in progress hold every slot."""
        if record.max_downloads is None:
            return Lease(self, Reservation(record.id, None, LEASE_SECONDS), 0.0)
        now = self.now()
        reservation = await self.call(self.ledger.reserve_download(record.id, now, LEASE_SECONDS))
        if reservation is None:
            await self.available(record.id)  # raises FileNotFound when gone
            raise DownloadsBusy(record.id, BUSY_RETRY_AFTER)
        return Lease(self, reservation, now + LEASE_SECONDS)

    # -- deletion ---------------------------------------------------------------------

    async def delete(self, file_id: str, token: str | None) -> None:
        """Delete a file on its delete token: ``DeleteUnauthorized`` (401)
        without one, ``FileNotFound`` for a file that is not available,
        ``DeleteForbidden`` (403) for a wrong token. The compare-and-revoke
        is one ledger step (in constant time there); the blob and record go
        right after."""
        if not token:
            raise DeleteUnauthorized()
        if len(token) <= MAX_TOKEN_CHARS and await self.call(
                self.ledger.delete_if_token(file_id, token_hash(token), self.now())):
            log.info("deleted %s on its delete token", file_id)
            self.events.file_deleted()
            await self.discard(file_id)
            return
        await self.available(file_id)  # raises FileNotFound when there is nothing to delete
        raise DeleteForbidden()

    async def discard(self, file_id: str) -> None:
        """Remove the blob, then the record; either may be gone already
        (another worker's janitor, a delete racing the last download)."""
        try:
            await self._storage.delete(file_id)
        except BlobNotFound:
            pass
        await self.call(self.ledger.remove(file_id))


class Lease:
    """One admitted download that will deliver the file's last byte. Counted
    (``ticket`` set) when the file has a download limit; then:

    - ``kept()`` renews the lease every ``RENEW_EVERY`` seconds while the
      bytes go (a slow download keeps its slot however long it takes);
    - ``settle()``, with only the last byte left to send, renews once more
      (``LeaseLost`` if the lease ran out: the slot may be someone else's;
      skipped while the lease is younger than ``LEASE_SECONDS -
      SETTLE_MARGIN``, as for most downloads) and counts the download, in
      that order, before the last byte goes: a crash then may lose a copy
      that was all but sent, never let one more than the limit out;
    - ``finish()`` after the last byte deletes a used-up file;
    - ``release()`` gives the slot back at once when the response is
      interrupted before ``settle``: that download does not count.
    """

    def __init__(self, lifecycle: Lifecycle, reservation: Reservation, lease_end: float) -> None:
        """``lease_end``: when the lease ends unless renewed (wall seconds,
        as the ledger was told)."""
        self._lifecycle = lifecycle
        self.reservation = reservation
        self._lease_end = lease_end
        self._lapsed = False
        self.downloads_left: int | None = None  # set by settle()
        self._ended = False

    @property
    def counted(self) -> bool:
        return self.reservation.counted

    @asynccontextmanager
    async def kept(self, clock: Clock) -> AsyncIterator[None]:
        """Renew the lease in the background for the duration of the block."""
        keeper = asyncio.ensure_future(self._keep(clock)) if self.counted else None
        try:
            yield
        finally:
            if keeper is not None:
                keeper.cancel()

    async def _keep(self, clock: Clock) -> None:
        ledger = self._lifecycle.ledger
        while True:
            await clock.sleep(RENEW_EVERY)
            now = self._lifecycle.now()
            try:
                if not await ledger.renew(self.reservation, now):
                    self._lapsed = True  # settle() will say so
                    return
                self._lease_end = now + LEASE_SECONDS
            except LedgerUnavailable as exc:
                log.warning("renewing the lease of a download of %s: %s", self.reservation.file_id, exc)

    async def settle(self) -> None:
        """Confirm the lease and count the download (see the class docstring)."""
        if not self.counted:
            return
        lifecycle = self._lifecycle
        now = lifecycle.now()
        if (self._lapsed or now > self._lease_end - SETTLE_MARGIN) and not await lifecycle.call(
                lifecycle.ledger.renew(self.reservation, now)):
            self._ended = True
            log.warning("a download of %s outlived its lease; aborted before its last byte",
                        self.reservation.file_id)
            raise LeaseLost(f"the download lease of {self.reservation.file_id} ran out")
        # Shielded: a cancelled response must not leave a sent copy uncounted.
        count = asyncio.ensure_future(lifecycle.ledger.complete_download(self.reservation, lifecycle.now()))
        self._ended = True
        self.downloads_left = await lifecycle.call(asyncio.shield(count))

    async def finish(self) -> None:
        """After the last byte: delete the file if that was its last download."""
        if self.downloads_left == 0:
            log.info("%s had its last download; deleted", self.reservation.file_id)
            await self._lifecycle.discard(self.reservation.file_id)

    def release(self) -> None:
        """Give the slot back without counting (the response was cut short).
        In the background: it runs in an ``except`` path, maybe cancelled."""
        if self._ended or not self.counted:
            return
        self._ended = True
        releasing = asyncio.ensure_future(self._lifecycle.ledger.release_download(self.reservation))
        releasing.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("releasing a download slot: %s (it frees itself when its lease ends)", task.exception())
