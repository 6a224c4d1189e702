"""The ledger in an embedded SQLite database (stdlib ``sqlite3``), shared by
the worker processes of one machine.

One database file in WAL mode (readers never wait for the writer), one
connection per process, opened lazily in that process: a ``SqliteLedger``
may be built in the parent before ``fork`` and used in every child (SQLite
forbids carrying a connection across ``fork``; a connection inherited anyway
is left unclosed, since closing it could disturb the parent's locks). Every
read-modify-write is one ``BEGIN IMMEDIATE`` transaction, which takes the
database's write lock up front, so two processes never both decide on the same
stale count; ``busy_timeout`` makes a process wait for the lock instead of
failing. Each call runs in the process's own single ledger thread and the
event loop only awaits it (the ``get`` calls of one turn of the loop as one
job: checks and downloads under load share the thread round trips). A process killed mid-transaction leaves the
database as it was before that transaction (SQLite's journal guarantees it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import os
import secrets
import sqlite3
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from adapters.ledger.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION
from adapters.ledger.group_commit import GroupCommit
from adapters.storage.threads import Offload
from ports.ledger import LedgerUnavailable, Record, RecordExists, Reservation

T = TypeVar("T")

PURGE_BATCH = 16  # lapsed reservations dropped per admission: bounded work, and they never pile up
COLUMNS = "id, size, created, expires, max_downloads, downloads, delete_token_hash, client"

# Connections inherited across fork: kept referenced so that they are never
# closed (their finaliser would close them) in a process that did not open them.
_INHERITED: list[object] = []


class LedgerVersionError(Exception):
    """The database was written by a newer schema than this code knows."""


def _record(row: tuple[Any, ...]) -> Record:
    return Record(*row)


def _expire_at(expires: float | None, now: float) -> float:
    return now if expires is None else min(expires, now)


class SqliteLedger:
    """The ledger port on SQLite. ``path`` is the database file (normally
    inside the storage directory); ``busy_timeout`` is how long, in seconds,
    a call waits for another process's write transaction. ``durable`` makes
    the steps a user could see undone reach the disk before they return
    (``synchronous=FULL``: ``add``, ``complete_download``, ``delete_if_token``);
    reservations, renewals, releases and removals never wait for the disk,
    since a power loss ends every download anyway and a removed record that
    comes back only answers 404 until the janitor takes it again. Without
    ``durable`` a power loss may forget the last commits of any kind. A
    process crash forgets nothing committed, in either mode (WAL)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 10.0, durable: bool = True) -> None:
        self.path = str(path)
        self._busy_timeout = busy_timeout
        self._durable = durable
        self._pid = -1
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._reads: Offload | None = None
        self._adds: GroupCommit[Record] | None = None
        self._conn: sqlite3.Connection | None = None

    def prepare(self) -> None:
        """Create the database and its schema now (blocking), so that start-up
        fails early on a bad path or a newer schema. Call before forking: it
        leaves no connection open."""
        self._connect().close()

    def clear_reservations(self) -> int:
        """Drop every reservation and return how many there were. For
        start-up only, before any worker runs: no download of this machine is
        in progress then, so the slots that a killed service's downloads held
        are free at once, not at the end of their leases."""
        with self.blocking(write=True) as conn:
            return int(conn.execute("DELETE FROM reservations").rowcount)

    @contextmanager
    def blocking(self, write: bool = False, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection of its own in the calling thread, closed after; with
        ``write``, inside one write transaction. For start-up work before any
        event loop runs (``adapters/ledger/startup.py``)."""
        conn = self._connect()
        try:
            if not write:
                yield conn
                return
            with self._write(conn, durable):
                yield conn
        finally:
            conn.close()

    def close(self) -> None:
        """Close this process's connection and stop its thread (blocking)."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.submit(self._close_connection).result()
            self._pool.shutdown()
        self._pool = None
        self._pid = -1

    # -- plumbing -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(f"{self.path}: cannot use WAL mode (got {mode!r})")
            if self._schema_version(conn) < SCHEMA_VERSION:  # a read: opening never waits for a writer once set up
                with self._write(conn, durable=True):
                    version = self._schema_version(conn)  # again, now that we hold the write lock
                    if version < SCHEMA_VERSION:
                        steps = SCHEMA if version == 0 else [s for v in range(version, SCHEMA_VERSION)
                                                             for s in MIGRATIONS[v]]
                        for statement in steps:
                            conn.execute(statement)
                        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LedgerVersionError(f"{self.path} has ledger schema {version}; this version knows {SCHEMA_VERSION}")
        return version

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _sync(self, conn: sqlite3.Connection, durable: bool) -> sqlite3.Connection:
        """``conn``, set to make its next commit ``durable`` (if the ledger is)."""
        conn.execute("PRAGMA synchronous=FULL" if durable and self._durable else "PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection, durable: bool) -> Iterator[None]:
        """One write transaction, holding the write lock from its first statement."""
        self._sync(conn, durable).execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _db(self) -> sqlite3.Connection:
        """This process's connection; opened on first use, in the ledger thread."""
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pid = os.getpid()
        if self._pid != pid:
            if self._conn is not None:
                _INHERITED.append(self._conn)
            self._conn = None
            # An inherited pool's thread does not exist in this process.
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="uds-ledger")
            self._reads = Offload(self._pool)
            self._adds = GroupCommit(self._pool, self._add_batch)
            self._pid = pid
        assert self._pool is not None
        return self._pool

    def _submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        return self._executor().submit(fn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._outcome(asyncio.wrap_future(self._submit(fn, *args)))

    @staticmethod
    async def _outcome(result: Awaitable[T]) -> T:
        """``result``, with SQLite's errors (a lock held beyond ``busy_timeout``,
        a disk error) as the port's ``LedgerUnavailable``."""
        try:
            return await result
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"ledger: {exc}") from exc

    # -- the port -------------------------------------------------------

    async def add(self, record: Record) -> None:
        # Group commit: the adds that arrive while one is being committed go
        # together as the next transaction, with one flush for all of them.
        self._executor()
        assert self._adds is not None
        await self._outcome(self._adds.run(record))

    def _add_batch(self, records: list[Record]) -> list[BaseException | None]:
        conn = self._db()
        outcomes: list[BaseException | None] = []
        with self._write(conn, durable=True):
            for record in records:
                try:
                    conn.execute(f"INSERT INTO records ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
                        record.id, record.size, record.created, record.expires, record.max_downloads,
                        record.downloads, record.delete_token_hash, record.client))
                    outcomes.append(None)
                except sqlite3.IntegrityError as exc:  # this record only: the others of the transaction stand
                    if "UNIQUE" not in str(exc):
                        raise
                    outcomes.append(RecordExists(record.id))
        return outcomes

    async def get(self, file_id: str) -> Record | None:
        # The read of every check and download: the gets of one turn of the
        # event loop go to the ledger thread as one job (see ``Offload``),
        # so a busy server pays one thread round trip per batch, not per get.
        self._executor()
        assert self._reads is not None
        return await self._outcome(self._reads.run(self._get, file_id))

    def _get(self, file_id: str) -> Record | None:
        row = self._db().execute(f"SELECT {COLUMNS} FROM records WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else _record(row)

    async def reserve_download(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        future = self._submit(self._reserve, file_id, now, lease_seconds)
        try:
            return await self._outcome(asyncio.shield(asyncio.wrap_future(future)))
        except asyncio.CancelledError:
            # The transaction may still commit in the ledger thread: hand its
            # slot back rather than hold it until the lease ends.
            future.add_done_callback(self._release_orphan)
            raise

    def _release_orphan(self, future: concurrent.futures.Future[Reservation | None]) -> None:
        if not future.cancelled() and future.exception() is None:
            reservation = future.result()
            if reservation is not None and reservation.ticket is not None:
                self._submit(self._release, reservation.ticket)

    def _reserve(self, file_id: str, now: float, lease_seconds: float) -> Reservation | None:
        record = self._get(file_id)  # unlimited files are admitted without a write
        if record is None or not record.available(now):
            return None
        if record.max_downloads is None:
            return Reservation(file_id, None, lease_seconds)
        conn = self._db()
        with self._write(conn, durable=False):
            record = self._get(file_id)  # again, under the write lock
            if record is None or not record.available(now) or record.max_downloads is None:
                return None
            conn.execute("DELETE FROM reservations WHERE ticket IN (SELECT ticket FROM reservations"
                         " WHERE lease_until <= ? LIMIT ?)", (now, PURGE_BATCH))
            live = conn.execute("SELECT count(*) FROM reservations WHERE file_id = ? AND lease_until > ?",
                                (file_id, now)).fetchone()[0]
            if record.downloads + live >= record.max_downloads:
                return None
            ticket = secrets.token_hex(16)
            conn.execute("INSERT INTO reservations (ticket, file_id, lease_until) VALUES (?, ?, ?)",
                         (ticket, file_id, now + lease_seconds))
        return Reservation(file_id, ticket, lease_seconds)

    async def renew(self, reservation: Reservation, now: float) -> bool:
        if reservation.ticket is None:
            return True
        return await self._run(self._renew, reservation.ticket, now, now + reservation.lease_seconds)

    def _renew(self, ticket: str, now: float, until: float) -> bool:
        cursor = self._sync(self._db(), False).execute(
            "UPDATE reservations SET lease_until = ? WHERE ticket = ? AND lease_until > ?", (until, ticket, now))
        return cursor.rowcount == 1

    async def complete_download(self, reservation: Reservation, now: float) -> int | None:
        if reservation.ticket is None:
            return None
        return await self._run(self._complete, reservation.file_id, reservation.ticket, now)

    def _complete(self, file_id: str, ticket: str, now: float) -> int | None:
        conn = self._db()
        with self._write(conn, durable=True):
            conn.execute("DELETE FROM reservations WHERE ticket = ?", (ticket,))
            record = self._get(file_id)
            if record is None:
                return 0
            if record.max_downloads is None:
                return None
            downloads = min(record.downloads + 1, record.max_downloads)
            left = record.max_downloads - downloads
            expires = _expire_at(record.expires, now) if left == 0 else record.expires
            conn.execute("UPDATE records SET downloads = ?, expires = ? WHERE id = ?", (downloads, expires, file_id))
        return left

    async def release_download(self, reservation: Reservation) -> None:
        if reservation.ticket is not None:
            await self._run(self._release, reservation.ticket)

    def _release(self, ticket: str) -> None:
        self._sync(self._db(), False).execute("DELETE FROM reservations WHERE ticket = ?", (ticket,))

    async def delete_if_token(self, file_id: str, token_hash: str, now: float) -> bool:
        return await self._run(self._delete_if_token, file_id, token_hash, now)

    def _delete_if_token(self, file_id: str, token_hash: str, now: float) -> bool:
        conn = self._db()
        with self._write(conn, durable=True):
            record = self._get(file_id)
            if record is None or not hmac.compare_digest(record.delete_token_hash.encode(), token_hash.encode()):
                return False
            conn.execute("UPDATE records SET expires = ? WHERE id = ?", (_expire_at(record.expires, now), file_id))
        return True

    async def remove(self, file_id: str) -> bool:
        return await self._run(self._remove, file_id)

    def _remove(self, file_id: str) -> bool:
        return self._sync(self._db(), False).execute("DELETE FROM records WHERE id = ?", (file_id,)).rowcount == 1

    async def expired(self, now: float, limit: int) -> list[str]:
        return await self._run(self._expired, now, limit)

    def _expired(self, now: float, limit: int) -> list[str]:
        rows = self._db().execute("SELECT id FROM records WHERE expires <= ? ORDER BY expires, id LIMIT ?",
                                  (now, max(0, limit))).fetchall()
        return [row[0] for row in rows]

    async def total_bytes(self) -> int:
        return await self._run(self._total_bytes)

    def _total_bytes(self) -> int:
        return int(self._db().execute("SELECT bytes FROM totals").fetchone()[0])

    async def total_files(self) -> int:
        return await self._run(self._total_files)

    def _total_files(self) -> int:
        return int(self._db().execute("SELECT files FROM totals").fetchone()[0])
