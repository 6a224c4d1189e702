"""The storage port: a small, streaming blob store.

Blobs are immutable once committed. A blob becomes visible to ``stat`` and
``open_reader`` only when its writer commits, all at once, together with its
metadata; an aborted or crashed writer leaves nothing visible. Optional
capabilities (listing, resumable appends, ...) are separate protocols that a
store may also implement, not methods here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, runtime_checkable


class BlobNotFound(Exception):
    """No committed blob has this id (or it was removed)."""


class StorageFull(Exception):
    """The store has no room for the blob (disk full or free-space floor reached)."""


@dataclass(frozen=True)
class BlobInfo:
    """What a store knows about a committed blob: its size in bytes and the
    string metadata it was committed with (opaque to the store)."""

    size: int
    metadata: Mapping[str, str]


class BlobWriter(Protocol):
    """Receives one blob's bytes. The caller owns the writer and must end it
    with exactly one ``commit`` or ``abort``; after either, the writer is closed."""

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``. May raise ``StorageFull`` or ``OSError``."""

    async def commit(self, metadata: Mapping[str, str]) -> None:
        """Make the blob durable and visible under its id, atomically with
        ``metadata``. On error nothing is visible and the writer is aborted;
        likewise when the calling task is cancelled, or the writer aborted,
        while the commit runs: a commit either returns with the blob visible
        or raises with nothing visible, never a published blob after a raise."""

    async def abort(self) -> None:
        """Discard everything written. Never raises; safe to call twice. May
        return before the disk is cleaned (a job still running finishes
        first), but nothing of this writer becomes or stays visible."""


class BlobReader(Protocol):
    """An open, committed blob. Reading is positional so that ranges and
    resumed downloads need no seek state. The reader pins the blob: it stays
    readable even if the blob is deleted meanwhile. The caller must ``close``."""

    @property
    def info(self) -> BlobInfo:
        """Size and metadata of the blob."""

    async def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer only at the end."""

    def close(self) -> None:
        """Release the reader. Safe to call twice."""


class Storage(Protocol):
    """A blob store keyed by ids the caller makes (see the id port).

    The methods of the store, its writers and readers are called on the
    event loop and must never block it on the disk or the network: a store
    runs such calls elsewhere (the filesystem store: in thread pools) and
    only awaits them. ``BlobReader.close`` and ``BlobWriter.abort`` may
    finish their clean-up in the background."""

    async def open_writer(self, blob_id: str, size_hint: int | None) -> BlobWriter:
        """Start a new blob. ``size_hint`` is the expected size when known,
        so the store can refuse early with ``StorageFull``."""

    async def open_reader(self, blob_id: str) -> BlobReader:
        """Open a committed blob, or raise ``BlobNotFound``."""

    async def stat(self, blob_id: str) -> BlobInfo:
        """Size and metadata of a committed blob, or raise ``BlobNotFound``.
        O(1): never a directory scan."""

    async def delete(self, blob_id: str) -> None:
        """Remove a committed blob, or raise ``BlobNotFound``. Open readers
        keep working until closed."""


# -- capabilities --------------------------------------------------------------------
# What only some stores can do, tusd-style: a feature that needs one checks
# for it where the service is composed (``isinstance(store, Listing)``) or
# where it is used (``isinstance(reader, SendfileSource)``), instead of every
# store growing one fat interface. The mutable metadata of a file (download
# counts, expiry, deletion) is not the blob store's: see ``ports/ledger.py``.


@runtime_checkable
class SendfileSource(Protocol):
    """A reader backed by a local file descriptor, for zero-copy sends."""

    def fileno(self) -> int:
        """A descriptor readable by position from offset 0 to ``info.size``
        (``os.sendfile``), owned by the reader: valid until it is closed."""


@runtime_checkable
class HealthReport(Protocol):
    """A store that can tell whether it can take uploads now."""

    async def health(self) -> str | None:
        """``None`` when a new upload could be stored now; else why not, in a
        few words (read-only, full or below the free-space floor, ...)."""


@runtime_checkable
class Listing(Protocol):
    """A store that can enumerate its committed blobs (for a janitor that
    looks for blobs nothing refers to any more)."""

    async def list_ids(self, after: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of committed blobs, in ascending order, each
        greater than ``after`` ("" for the first page). A scan: never on a
        request's path."""


class PartialNotFound(Exception):
    """No partial upload has this id (never created, removed, or published)."""


class PartialBusy(Exception):
    """Another appender (in any process) holds this partial upload right now."""


@dataclass(frozen=True)
class PartialInfo:
    """What a store records about a partial upload: ``offset`` bytes received
    and kept, the declared ``length`` (``None`` while deferred), ``expires``
    (epoch seconds, set by the caller: the store never reads a clock) and
    string metadata the store does not interpret."""

    offset: int
    length: int | None
    expires: float
    metadata: Mapping[str, str]


class PartialAppender(BlobWriter, Protocol):
    """Holds one partial upload exclusively (across processes) for one
    append, from ``open_append`` until exactly one of ``save``, ``commit``
    or ``abort``. ``write`` appends after ``info.offset``; then

    - ``save`` records the new offset: durably (with the store's fsync) and
      atomically, so that a crash at any moment leaves the upload at either
      the old or the new offset, with exactly those bytes;
    - ``commit(metadata)`` (the ``BlobWriter`` step) publishes every byte so
      far as the committed blob of the same id and removes the partial, with
      the guarantees of ``BlobWriter.commit``;
    - ``abort`` forgets what this appender wrote: the upload stays at
      ``info.offset``."""

    @property
    def info(self) -> PartialInfo:
        """The partial as recorded when the appender took it."""

    async def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` of the bytes so far (recorded
        and written by this appender); fewer only at the end."""

    async def save(self, length: int | None, expires: float) -> PartialInfo:
        """Record the bytes written as received (and ``length``, once known),
        release the upload, and return what is now recorded."""


@runtime_checkable
class Resumable(Protocol):
    """A store that keeps partial uploads, which grow by appends and end as
    committed blobs of the same id (the tus protocol's data store). Partial
    uploads survive a restart of the process."""

    async def create_partial(self, upload_id: str, length: int | None, expires: float,
                             metadata: Mapping[str, str]) -> PartialInfo:
        """Start an empty partial upload. ``length`` is the declared size when
        known (the store may refuse it early with ``StorageFull``)."""

    async def partial_info(self, upload_id: str) -> PartialInfo:
        """What is recorded, or raise ``PartialNotFound``. O(1)."""

    async def open_append(self, upload_id: str) -> PartialAppender:
        """Take the upload for one append; raise ``PartialNotFound``, or
        ``PartialBusy`` at once (never waiting) while another holds it."""

    async def remove_partial(self, upload_id: str) -> None:
        """Remove a partial upload; ``PartialNotFound`` or ``PartialBusy`` as
        for ``open_append``."""

    async def remove_expired(self, now: float) -> int:
        """Remove the partial uploads that expired before ``now`` (epoch
        seconds) and that nobody holds, and any leftovers of a crash; return
        how many uploads went. A scan: for a janitor, never a request."""
