"""Blocking ledger queries for start-up, run in the parent process before any
worker or event loop (see ``adapters/adoption.py``): each opens a connection
of its own and closes it."""

from __future__ import annotations

from typing import Sequence

from adapters.ledger.sqlite import COLUMNS, SqliteLedger
from ports.ledger import Record

ID_BATCH = 500  # ids per "IN (...)" query: below SQLite's limit on bound parameters


def unknown_ids(ledger: SqliteLedger, ids: Sequence[str]) -> list[str]:
    """Those of ``ids`` that have no record."""
    known: set[str] = set()
    with ledger.blocking() as conn:
        for start in range(0, len(ids), ID_BATCH):
            batch = ids[start:start + ID_BATCH]
            query = f"SELECT id FROM records WHERE id IN ({', '.join('?' * len(batch))})"
            known.update(row[0] for row in conn.execute(query, batch))
    return [file_id for file_id in ids if file_id not in known]


def add_records(ledger: SqliteLedger, records: Sequence[Record]) -> int:
    """Add ``records`` in one durable transaction; an id that has a record
    already is left as it is. Returns how many were added."""
    with ledger.blocking(write=True, durable=True) as conn:
        return sum(conn.execute(f"INSERT OR IGNORE INTO records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            r.id, r.size, r.created, r.expires, r.max_downloads, r.downloads, r.delete_token_hash,
            r.client)).rowcount for r in records)
