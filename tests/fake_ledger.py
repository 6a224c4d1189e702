"""The ledger port in dicts, for domain tests: no awaits inside a method, so
each call is atomic on one event loop, as the port promises."""

from __future__ import annotations

import dataclasses
import hmac
import itertools

from ports.ledger import Record, RecordExists, Reservation


class MemoryLedger:
    """Same semantics as ``SqliteLedger``, checked by the same contract suite."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.leases: dict[str, tuple[str, float]] = {}  # ticket -> (file id, lease end)
        self._total = 0
        self._tickets = itertools.count(1)

    async def add(self, record: Record) -> None:
        if record.id in self.records:
            raise RecordExists(record.id)
        self.records[record.id] = record
        self._total += record.size

    async def get(self, file_id: str) -> Record | None:
        return self.records.get(file_id)

    async def reserve_download(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        record = self.records.get(file_id)
        if record is None or not record.available(now):
            return None
        if record.max_downloads is None:
            return Reservation(file_id, None, lease_seconds)
        live = sum(1 for owner, end in self.leases.values() if owner == file_id and end > now)
        if record.downloads + live >= record.max_downloads:
            return None
        ticket = f"t{next(self._tickets)}"
        self.leases[ticket] = (file_id, now + lease_seconds)
        return Reservation(file_id, ticket, lease_seconds)

    async def renew(self, reservation: Reservation, now: float) -> bool:
        if reservation.ticket is None:
            return True
        lease = self.leases.get(reservation.ticket)
        if lease is None or lease[1] <= now:
            return False
        self.leases[reservation.ticket] = (lease[0], now + reservation.lease_seconds)
        return True

    async def complete_download(self, reservation: Reservation, now: float) -> int | None:
        if reservation.ticket is None:
            return None
        self.leases.pop(reservation.ticket, None)
        record = self.records.get(reservation.file_id)
        if record is None or record.max_downloads is None:
            return 0 if record is None else None
        downloads = min(record.downloads + 1, record.max_downloads)
        left = record.max_downloads - downloads
        expires = record.expires
        if left == 0:
            expires = now if expires is None else min(expires, now)
        self.records[record.id] = dataclasses.replace(record, downloads=downloads, expires=expires)
        return left

    async def release_download(self, reservation: Reservation) -> None:
        if reservation.ticket is not None:
            self.leases.pop(reservation.ticket, None)

    async def delete_if_token(self, file_id: str, token_hash: str, now: float) -> bool:
        record = self.records.get(file_id)
        if record is None or not hmac.compare_digest(record.delete_token_hash.encode(), token_hash.encode()):
            return False
        expires = now if record.expires is None else min(record.expires, now)
        self.records[file_id] = dataclasses.replace(record, expires=expires)
        return True

    async def remove(self, file_id: str) -> bool:
        record = self.records.pop(file_id, None)
        if record is None:
            return False
        self._total -= record.size
        return True

    async def expired(self, now: float, limit: int) -> list[str]:
        due = [(r.expires, r.id) for r in self.records.values() if r.expires is not None and r.expires <= now]
        return [file_id for _, file_id in sorted(due)[:max(0, limit)]]

    async def total_bytes(self) -> int:
        return self._total

    async def total_files(self) -> int:
        return len(self.records)
