"""The ledger port: the changing metadata of immutable blobs.

Blobs never change once committed; what does (download counts, revocation,
expiry) lives here, shared by every worker process of one machine (later by
several machines, on object storage). The port is small on purpose: each
method is one atomic step that an adapter can implement with one transaction
(SQLite) or one conditional write (object storage).

Times are epoch seconds passed in by the caller (``now``); adapters never read
a clock, so tests need no sleeping and every worker judges expiry alike.

Counting downloads (a download counts when a response that delivers the
file's last byte completes; at most ``max_downloads`` complete copies, across
workers, even when a worker is killed):

1. ``reserve_download`` before sending a response that will deliver the last
   byte (HEAD, check and ranges that stop short of the end do not reserve).
   ``None`` means the file is gone, expired or exhausted (answer 404), or
   that every download left is in progress right now (``get`` still shows
   the record available then: answer 503 with ``Retry-After``, say).
2. ``renew`` while sending, well within ``lease_seconds`` of the last renewal,
   and once more just before the final chunk. ``False`` means the lease ran
   out and the slot may be someone else's: abort without the last byte.
3. ``complete_download`` once the last byte is delivered, exactly once; at 0
   remaining, delete the blob, then ``remove`` the record. Or
   ``release_download`` if the response was interrupted: it does not count.
   (The service calls it right after that last renewal, with only the last
   byte left to send: a crash then loses a copy that was all but sent,
   rather than let one copy more than the limit out.)

A worker killed between 1 and 3 holds its slot only until the lease ends. A
worker killed after ``complete_download`` returned 0 leaves an expired record:
``get`` shows it unavailable at once, and ``expired`` hands it to the janitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class RecordExists(Exception):
    """``add`` found a record with the same id."""


class LedgerUnavailable(Exception):
    """The ledger could not answer (locked for too long by another process,
    a disk or network error). The step either happened entirely or not at all;
    for a reservation, assume not: its lease frees the slot anyway."""


@dataclass(frozen=True)
class Record:
    """What the ledger knows about one stored file.

    ``created`` and ``expires`` are epoch seconds; ``expires`` ``None`` means
    never. ``max_downloads`` ``None`` means unlimited (and then ``downloads``
    stays 0: unlimited files are not counted). ``delete_token_hash`` is a hex
    digest of the delete token (the token itself is never stored). ``client``
    is the uploader's address, for per-client quotas."""

    id: str
    size: int
    created: float
    expires: float | None
    max_downloads: int | None
    downloads: int
    delete_token_hash: str
    client: str

    def __post_init__(self) -> None:
        if self.size < 0 or self.downloads < 0:
            raise ValueError("size and downloads must not be negative")
        if self.max_downloads is not None and self.max_downloads < 1:
            raise ValueError("max_downloads must be at least 1 (or None for unlimited)")

    @property
    def downloads_left(self) -> int | None:
        """Complete downloads still allowed; ``None`` when unlimited."""
        if self.max_downloads is None:
            return None
        return max(0, self.max_downloads - self.downloads)

    def available(self, now: float) -> bool:
        """Whether the file may be checked and downloaded at ``now``: not
        expired (``now < expires``), not revoked, not exhausted."""
        if self.expires is not None and now >= self.expires:
            return False
        return self.downloads_left != 0


@dataclass(frozen=True)
class Reservation:
    """A download admitted by ``reserve_download``. ``ticket`` is ``None`` for
    a file without a download limit: nothing was written and nothing is
    counted. ``lease_seconds`` is how far each ``renew`` pushes the lease."""

    file_id: str
    ticket: str | None
    lease_seconds: float

    @property
    def counted(self) -> bool:
        return self.ticket is not None


class Ledger(Protocol):
    """The metadata ledger. Every method is atomic with respect to every other
    call, in any worker process of the machine sharing it, and may raise
    ``LedgerUnavailable``."""

    async def add(self, record: Record) -> None:
        """Store a new record, or raise ``RecordExists`` (nothing changed)."""

    async def get(self, file_id: str) -> Record | None:
        """The record, or ``None`` when there is none. The record may be
        unavailable (see ``Record.available``): the caller answers 404 then."""

    async def reserve_download(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        """Admit one download that will deliver the last byte, or ``None`` when
        the record is missing, expired at ``now``, revoked or exhausted, or
        when live reservations hold every download left.

        With a limit, admission is one atomic step: granted only while
        completed downloads plus live reservations (lease end after ``now``)
        stay below ``max_downloads``; the lease ends at ``now + lease_seconds``.
        Without a limit it always succeeds for an available record and writes
        nothing. ``lease_seconds`` must be positive."""

    async def renew(self, reservation: Reservation, now: float) -> bool:
        """Push the lease end to ``now + reservation.lease_seconds``, atomically,
        only if it is still after ``now``. ``False`` when the lease has run
        out, or the reservation was completed or released: its slot may have
        gone to another download. Always ``True`` for an uncounted reservation.
        A live reservation stays renewable after its record is removed (an
        expiring file never breaks a download in progress)."""

    async def complete_download(self, reservation: Reservation, now: float) -> int | None:
        """Count the delivered copy, in one atomic step with ending the
        reservation, and return the downloads left: 0 means the caller must now
        delete the blob and then ``remove`` the record. At 0 the record also
        expires at ``now``, so that a crash before the deletion never lets the
        file serve again. A lapsed reservation is still counted (the copy was
        delivered), never beyond ``max_downloads``. ``None`` for an uncounted
        reservation; 0 when the record is gone. Call it once per reservation."""

    async def release_download(self, reservation: Reservation) -> None:
        """End the reservation without counting it (an interrupted download):
        the slot is free again at once. Idempotent; nothing for an uncounted one."""

    async def delete_if_token(self, file_id: str, token_hash: str, now: float) -> bool:
        """Revoke the file if ``token_hash`` matches the stored hash (compared
        in constant time), as one atomic compare-and-expire: the record expires
        at ``now`` (it stops being available at once, and ``expired`` lists it
        should the caller crash before finishing). The caller then deletes the
        blob and ``remove``s the record. ``False`` when the record is missing or
        the token does not match (nothing changed)."""

    async def remove(self, file_id: str) -> bool:
        """Delete the record; ``False`` when there was none. Delete the blob
        first: a record without a blob only answers 404 and is listed by
        ``expired``, but a blob without a record would never be found again."""

    async def expired(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` ids whose record expired at or before ``now``
        (including exhausted and revoked ones), earliest expiry first. Served
        by an index: the cost grows with ``limit``, not with the ledger."""

    async def total_bytes(self) -> int:
        """Sum of the sizes of all records, kept up to date by ``add`` and
        ``remove`` in the same atomic step (never a scan)."""

    async def total_files(self) -> int:
        """The number of records (available or not), kept like ``total_bytes``."""
