"""The SQLite ledger's schema, and the steps that bring an older one up to
date (``adapters/ledger/sqlite.py`` runs them in one write transaction when
it opens a database whose ``user_version`` is behind ``SCHEMA_VERSION``).

Version 2 counts the records beside their total size (``totals.files``),
for the stored-files metric without a scan.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

_RECORDS_TRIGGERS = (
    "CREATE TRIGGER records_added AFTER INSERT ON records"
    " BEGIN UPDATE totals SET bytes = bytes + NEW.size, files = files + 1; END",
    "CREATE TRIGGER records_removed AFTER DELETE ON records"
    " BEGIN UPDATE totals SET bytes = bytes - OLD.size, files = files - 1; END",
)

SCHEMA = (
    """CREATE TABLE records (
        id TEXT PRIMARY KEY,
        size INTEGER NOT NULL CHECK (size >= 0),
        created REAL NOT NULL,
        expires REAL,
        max_downloads INTEGER CHECK (max_downloads >= 1),
        downloads INTEGER NOT NULL CHECK (downloads >= 0),
        delete_token_hash TEXT NOT NULL,
        client TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX records_by_expiry ON records (expires, id) WHERE expires IS NOT NULL",
    "CREATE TABLE reservations (ticket TEXT PRIMARY KEY, file_id TEXT NOT NULL, lease_until REAL NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX reservations_by_file ON reservations (file_id, lease_until)",
    "CREATE INDEX reservations_by_lease ON reservations (lease_until)",
    # The total size and count, kept by triggers in the very transaction that adds or removes a record.
    "CREATE TABLE totals (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL,"
    " files INTEGER NOT NULL DEFAULT 0)",
    "INSERT INTO totals VALUES (1, 0, 0)",
    *_RECORDS_TRIGGERS,
)

# MIGRATIONS[v]: the statements that take a version-v database to v + 1.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE totals ADD COLUMN files INTEGER NOT NULL DEFAULT 0",
        "UPDATE totals SET files = (SELECT count(*) FROM records)",  # once, at the upgrade
        "DROP TRIGGER records_added",
        "DROP TRIGGER records_removed",
        *_RECORDS_TRIGGERS,
    ),
}
