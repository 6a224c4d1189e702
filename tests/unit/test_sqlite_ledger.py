"""What only the shared SQLite ledger has to get right: races between worker
processes, processes killed with SIGKILL mid-write, use after fork, schema
versions, indexes, and never blocking the event loop. The port's semantics
themselves are in tests/contract/test_ledger_contract.py."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import select
import signal
import sqlite3
import traceback
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import pytest

from adapters.ledger.schema import SCHEMA_VERSION
from adapters.ledger.sqlite import LedgerVersionError, SqliteLedger
from ports.ledger import LedgerUnavailable, Record

T = TypeVar("T")
FORK = multiprocessing.get_context("fork")
WORKERS = 4
TOKEN = "ab" * 32


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def record(file_id: str, max_downloads: int | None = None, expires: float | None = None, size: int = 10) -> Record:
    return Record(file_id, size, 1000.0, expires, max_downloads, 0, TOKEN, "198.51.100.1")


def in_workers(target: Callable[[int, Callable[[], object]], Any], count: int = WORKERS,
               timeout: float = 90.0) -> list[Any]:
    """``target(index, start)`` in ``count`` forked processes; ``start()`` waits
    until every worker calls it, so that they race from there. Their return
    values, in index order. A failing worker fails the test."""
    results = FORK.Queue()
    barrier = FORK.Barrier(count)

    def body(index: int) -> None:
        try:
            results.put((index, True, target(index, lambda: barrier.wait(timeout))))
        except BaseException:
            results.put((index, False, traceback.format_exc()))

    workers = [FORK.Process(target=body, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    try:
        got = [results.get(timeout=timeout) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout)
            if worker.is_alive():
                worker.kill()
                worker.join()
    failures = [value for _, ok, value in got if not ok]
    assert not failures, failures[0]
    return [value for _, _, value in sorted(got)]


def test_reservations_from_several_processes_admit_exactly_the_limit(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", durable=False)
    ledger.prepare()
    limits = {f"f{n}": 1 + n % 3 for n in range(300)}  # each file is a new race at its boundary

    async def setup() -> None:  # the parent uses it too, before forking: children must open their own
        for file_id, limit in limits.items():
            await ledger.add(record(file_id, limit))

    run(setup)

    def worker(_: int, start: Callable[[], object]) -> dict[str, int]:
        async def attempts() -> dict[str, int]:
            await ledger.total_bytes()  # connected before the race starts
            start()
            admitted = dict.fromkeys(limits, 0)
            for file_id in limits:
                for _ in range(3):
                    if await ledger.reserve_download(file_id, 1000.0, 600.0) is not None:
                        admitted[file_id] += 1
            return admitted
        return run(attempts)

    counts = in_workers(worker)
    assert {k: sum(c[k] for c in counts) for k in limits} == limits
    ledger.close()


def test_completions_from_several_processes_never_exceed_the_limit(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.prepare()
    limits = {"a": 1, "b": 7, "c": 30}

    async def setup() -> None:
        for file_id, limit in limits.items():
            await ledger.add(record(file_id, limit))

    run(setup)

    def worker(index: int, start: Callable[[], object]) -> dict[str, list[int | None]]:
        rng = random.Random(index)

        async def downloads() -> dict[str, list[int | None]]:
            await ledger.total_bytes()
            start()
            lefts: dict[str, list[int | None]] = {k: [] for k in limits}
            for file_id in limits:
                while True:
                    held = await ledger.reserve_download(file_id, 1000.0, 600.0)
                    if held is None:
                        current = await ledger.get(file_id)
                        if current is None or current.downloads_left == 0:
                            break
                        continue  # every slot is held by another worker right now
                    if rng.random() < 0.3:
                        await ledger.release_download(held)  # an interrupted download
                    else:
                        lefts[file_id].append(await ledger.complete_download(held, 1000.0))
            return lefts
        return run(downloads)

    results = in_workers(worker)
    for file_id, limit in limits.items():
        lefts = sorted(left for result in results for left in result[file_id] if left is not None)
        assert lefts == list(range(limit)), file_id  # each count handed out once: limit-1, ..., 1, 0

    async def after() -> None:
        for file_id, limit in limits.items():
            final = await ledger.get(file_id)
            assert final is not None and final.downloads == limit and final.expires == 1000.0

    run(after)
    ledger.close()


def _churn(path: Path, seed: int, signal_fd: int, signal_at: int) -> None:
    """Random writes for ever, as a worker would make them; writes a byte to
    ``signal_fd`` after ``signal_at`` operations (the parent then kills us)."""
    rng = random.Random(seed)
    ledger = SqliteLedger(path)

    async def forever() -> None:
        now, serial, held = 1000.0, 0, []
        while True:
            serial += 1
            if serial == signal_at:
                os.write(signal_fd, b"x")
            now += 0.01
            ids = [f"f{n}" for n in range(max(0, serial - 40), serial)]
            choice = rng.random()
            if choice < 0.3:
                await ledger.add(record(f"f{serial}", rng.choice([None, 1, 2, 3]), now + rng.uniform(0, 5),
                                        rng.randrange(1, 10 ** 6)))
            elif choice < 0.55:
                reservation = await ledger.reserve_download(rng.choice(ids), now, 10.0 ** 6)
                if reservation is not None:
                    held.append(reservation)
            elif choice < 0.7 and held:
                await ledger.complete_download(held.pop(rng.randrange(len(held))), now)
            elif choice < 0.8 and held:
                await ledger.release_download(held.pop(rng.randrange(len(held))))
            elif choice < 0.85:
                await ledger.delete_if_token(rng.choice(ids), TOKEN, now)
            else:
                for file_id in await ledger.expired(now, 5):
                    await ledger.remove(file_id)

    run(forever)


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_mid_write_leaves_a_consistent_ledger(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path).prepare()
    signal_at = random.Random(seed).randrange(50, 600)
    read_fd, write_fd = os.pipe()
    child = FORK.Process(target=_churn, args=(path, seed, write_fd, signal_at))
    child.start()
    try:
        ready, _, _ = select.select([read_fd], [], [], 60)
        assert ready and os.read(read_fd, 1) == b"x", "the writer made no progress"
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        os.close(read_fd)
        os.close(write_fd)
    assert child.exitcode == -signal.SIGKILL

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        total = db.execute("SELECT bytes FROM totals").fetchone()[0]
        assert total == db.execute("SELECT coalesce(sum(size), 0) FROM records").fetchone()[0]
        # Leases never lapse in this run, so every reservation row is live.
        over = db.execute("SELECT count(*) FROM records WHERE downloads + (SELECT count(*) FROM reservations"
                          " WHERE file_id = records.id) > max_downloads").fetchone()[0]
        assert over == 0
        exhausted_but_unexpired = db.execute("SELECT count(*) FROM records WHERE downloads >= max_downloads"
                                             " AND expires IS NULL").fetchone()[0]
        assert exhausted_but_unexpired == 0
        count = db.execute("SELECT count(*) FROM records").fetchone()[0]
    db.close()

    ledger = SqliteLedger(path)

    async def reopened() -> None:
        await ledger.add(record("after", size=7))
        assert await ledger.total_bytes() == total + 7
        assert len(await ledger.expired(10.0 ** 9, 10 ** 6)) == count  # all but "after", which never expires

    run(reopened)
    ledger.close()


def _die_after(path: Path, complete: bool) -> None:
    """Reserve the last download of "last" (and count it when ``complete``),
    then die by SIGKILL before the blob and the record are deleted."""
    ledger = SqliteLedger(path)

    async def claim() -> None:
        held = await ledger.reserve_download("last", 1000.0, 30.0)
        assert held is not None
        if complete:
            assert await ledger.complete_download(held, 1001.0) == 0

    run(claim)
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("complete", [False, True], ids=["claimed", "counted"])
def test_kill_between_claimed_and_deleted(tmp_path: Path, complete: bool) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.prepare()
    run(lambda: ledger.add(record("last", max_downloads=1)))
    child = FORK.Process(target=_die_after, args=(ledger.path, complete))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL

    async def afterwards() -> None:
        current = await ledger.get("last")
        assert current is not None
        if complete:  # counted: never serves again, and the janitor finds it
            assert not current.available(1001.0)
            assert await ledger.expired(1001.0, 10) == ["last"]
            assert await ledger.reserve_download("last", 5000.0, 30.0) is None
        else:  # claimed only: the slot comes back when the dead worker's lease ends
            assert current.available(1001.0) and await ledger.expired(10.0 ** 9, 10) == []
            assert await ledger.reserve_download("last", 1029.0, 30.0) is None
            assert await ledger.reserve_download("last", 1030.0, 30.0) is not None

    run(afterwards)
    ledger.close()


def test_schema_is_versioned_and_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    first = SqliteLedger(path)
    first.prepare()
    run(lambda: first.add(record("kept", 2, 5000.0)))
    first.close()
    second = SqliteLedger(path)
    second.prepare()
    assert run(lambda: second.get("kept")) == record("kept", 2, 5000.0)
    second.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(LedgerVersionError, match=f"schema {SCHEMA_VERSION + 1}"):
        SqliteLedger(path).prepare()


# The schema of version 1 (before totals.files), as that version wrote it.
SCHEMA_1 = (
    "CREATE TABLE records (id TEXT PRIMARY KEY, size INTEGER NOT NULL CHECK (size >= 0), created REAL NOT NULL,"
    " expires REAL, max_downloads INTEGER CHECK (max_downloads >= 1), downloads INTEGER NOT NULL"
    " CHECK (downloads >= 0), delete_token_hash TEXT NOT NULL, client TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX records_by_expiry ON records (expires, id) WHERE expires IS NOT NULL",
    "CREATE TABLE reservations (ticket TEXT PRIMARY KEY, file_id TEXT NOT NULL, lease_until REAL NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX reservations_by_file ON reservations (file_id, lease_until)",
    "CREATE INDEX reservations_by_lease ON reservations (lease_until)",
    "CREATE TABLE totals (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL)",
    "INSERT INTO totals VALUES (1, 0)",
    "CREATE TRIGGER records_added AFTER INSERT ON records BEGIN UPDATE totals SET bytes = bytes + NEW.size; END",
    "CREATE TRIGGER records_removed AFTER DELETE ON records BEGIN UPDATE totals SET bytes = bytes - OLD.size; END",
)


def test_a_version_1_ledger_is_upgraded_and_counts_its_files(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        for statement in SCHEMA_1:
            db.execute(statement)
        for i in range(3):
            db.execute("INSERT INTO records VALUES (?, ?, 1000.0, NULL, NULL, 0, 'h', '')", (f"old{i}", 10 + i))
        db.execute("PRAGMA user_version=1")
    db.close()
    ledger = SqliteLedger(path)
    ledger.prepare()

    async def scenario() -> None:
        assert await ledger.total_files() == 3
        assert await ledger.total_bytes() == 33
        await ledger.add(record("new", size=100))
        assert await ledger.remove("old0") is True
        assert await ledger.total_files() == 3
        assert await ledger.total_bytes() == 123
        assert await ledger.get("old1") is not None

    run(scenario)
    ledger.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_queries_use_their_indexes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path).prepare()
    with sqlite3.connect(path) as db:
        def plan(sql: str) -> str:
            return " | ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, (1.0, 1.0)))

        expired = plan("SELECT id FROM records WHERE expires <= ? ORDER BY expires, id LIMIT ?")
        assert "records_by_expiry" in expired and "TEMP B-TREE" not in expired, expired
        live = plan("SELECT count(*) FROM reservations WHERE file_id = ? AND lease_until > ?")
        assert "reservations_by_file" in live, live
        purge = plan("SELECT ticket FROM reservations WHERE lease_until <= ? LIMIT ?")
        assert "reservations_by_lease" in purge, purge
    db.close()


def test_a_locked_database_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(path, busy_timeout=60.0)
    hasty = SqliteLedger(path, busy_timeout=0.1)
    ledger.prepare()
    run(lambda: ledger.add(record("busy", max_downloads=1)))
    other = sqlite3.connect(path, isolation_level=None)  # another worker, in the middle of a long write

    async def scenario() -> None:
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.ensure_future(ledger.reserve_download("busy", 1000.0, 60.0))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done() and ticks == 20
        with pytest.raises(LedgerUnavailable, match="locked"):
            await hasty.reserve_download("busy", 1000.0, 60.0)
        assert await hasty.get("busy") is not None  # readers never wait (WAL)
        other.execute("COMMIT")
        assert await waiting is not None

    run(scenario)
    for each in (other, ledger, hasty):
        each.close()


def test_a_cancelled_reservation_gives_its_slot_back(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(path, busy_timeout=60.0)
    ledger.prepare()
    run(lambda: ledger.add(record("cancel", max_downloads=1)))
    other = sqlite3.connect(path, isolation_level=None)

    async def scenario() -> None:
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.ensure_future(ledger.reserve_download("cancel", 1000.0, 600.0))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        other.execute("COMMIT")  # the transaction in the ledger thread now goes through
        # One call through the ledger's single thread: by its end, the cancelled
        # transaction has finished and its release is queued before any later call.
        await ledger.total_bytes()
        assert await ledger.reserve_download("cancel", 1000.0, 600.0) is not None

    run(scenario)
    other.close()
    ledger.close()
