"""The objects of the ledger kept in a bucket (``adapters/ledger/objects.py``)
as pure functions on bytes and key names: no I/O.

A record object is UTF-8 JSON: the ``Record``'s fields plus ``leases``, the
live download reservations (ticket -> lease end, epoch seconds), so that an
admission and its count are one conditional write of one object. A removed
record is first replaced by a tombstone ``{"v": 1, "removed": true}`` (one
remover wins), then deleted. Anything else is ``CorruptRecord``.

Expiry index entries are empty objects named ``<expires>/<id>``, with the
expiry written fixed-width (``0001764754800.500000``: ascending key order is
ascending time), so that listing them from the start gives the earliest first.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from ports.ledger import Record

VERSION = 1
_FIELDS = ("id", "size", "created", "expires", "max_downloads", "downloads", "delete_token_hash", "client")


class CorruptRecord(Exception):
    """A ledger object that is not one this code wrote."""


def encode(record: Record, leases: dict[str, float]) -> bytes:
    return json.dumps({"v": VERSION, **asdict(record), "leases": leases},
                      ensure_ascii=False, separators=(",", ":")).encode()


TOMBSTONE = json.dumps({"v": VERSION, "removed": True}).encode()


def decode(raw: bytes | None) -> tuple[Record | None, dict[str, float]]:
    """The record and its leases; ``(None, {})`` for no object or a tombstone."""
    if raw is None:
        return None, {}
    try:
        data: Any = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ValueError("version")
        if data.get("removed") is True:
            return None, {}
        record = Record(**{name: data[name] for name in _FIELDS})
        leases = {str(ticket): float(until) for ticket, until in data["leases"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptRecord(f"bad ledger record: {exc}") from None
    return record, leases


def is_tombstone(raw: bytes | None) -> bool:
    return raw == TOMBSTONE


def expiry_name(expires: float, file_id: str) -> str:
    """The index entry's name (after the index prefix) of a record expiring at
    ``expires``. Times before the epoch (never written by the service) sort as 0."""
    return f"{max(0.0, expires):020.6f}/{file_id}"


def parse_expiry_name(name: str) -> tuple[float, str]:
    when, _, file_id = name.partition("/")
    try:
        return float(when), file_id
    except ValueError:
        raise CorruptRecord(f"bad expiry index entry {name!r}") from None


def encode_total(total: tuple[int, int]) -> bytes:
    """A counter shard: ``(bytes, files)``."""
    return json.dumps({"v": VERSION, "bytes": total[0], "files": total[1]}).encode()


def decode_total(raw: bytes | None) -> tuple[int, int]:
    """A counter shard's ``(bytes, files)``; a shard written before files
    were counted has no ``files`` (read as 0)."""
    if raw is None:
        return 0, 0
    try:
        data = json.loads(raw)
        files = data.get("files", 0)
        if data.get("v") != VERSION or not isinstance(data["bytes"], int) or not isinstance(files, int):
            raise ValueError("fields")
        return int(data["bytes"]), int(files)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptRecord(f"bad total counter: {exc}") from None
