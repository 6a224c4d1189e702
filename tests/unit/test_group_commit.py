"""Group commit (adapters/ledger/group_commit.py): the calls that arrive while
a job runs go together as the next job, each caller gets its own outcome; the
SQLite ledger adds the records of concurrent uploads in shared transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.ledger.group_commit import GroupCommit, Outcome
from adapters.ledger.sqlite import SqliteLedger
from ports.ledger import Record, RecordExists


def test_calls_arriving_during_a_job_go_together_as_the_next_one() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def run_batch(items: list[int]) -> list[Outcome]:
        batches.append(items)
        assert release.wait(10)
        return [None if item % 3 else KeyError(item) for item in items]

    with ThreadPoolExecutor(1) as pool:
        commits = GroupCommit(pool, run_batch)

        async def scenario() -> list[object]:
            first = asyncio.ensure_future(commits.run(1))
            await asyncio.sleep(0.01)  # the first job is running (held)
            rest = [asyncio.ensure_future(commits.run(n)) for n in range(2, 8)]
            await asyncio.sleep(0.01)
            release.set()
            return await asyncio.gather(first, *rest, return_exceptions=True)

        outcomes = asyncio.run(scenario())
    assert batches == [[1], [2, 3, 4, 5, 6, 7]]
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "NoneType", "KeyError", "NoneType", "NoneType",
                                                    "KeyError", "NoneType"]


def test_a_job_that_fails_fails_every_call_of_its_batch_and_the_next_still_runs() -> None:
    calls = 0

    def run_batch(items: list[str]) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk I/O error")
        return [None] * len(items)

    with ThreadPoolExecutor(1) as pool:
        commits = GroupCommit(pool, run_batch)

        async def scenario() -> None:
            with pytest.raises(OSError):
                await commits.run("a")
            await commits.run("b")

        asyncio.run(scenario())
    assert calls == 2


def test_a_new_event_loop_starts_afresh() -> None:
    with ThreadPoolExecutor(1) as pool:
        commits: GroupCommit[int] = GroupCommit(pool, lambda items: [None] * len(items))
        for _ in range(3):
            asyncio.run(commits.run(1))


def record(file_id: str) -> Record:
    return Record(file_id, 10, 1000.0, None, None, 0, "t" * 64, "198.51.100.1")


def test_concurrent_adds_share_transactions_and_a_duplicate_fails_alone(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.prepare()
    batches: list[int] = []
    real = SqliteLedger._add_batch

    def counting(self: SqliteLedger, records: list[Record]) -> list[Outcome]:
        batches.append(len(records))
        return real(self, records)

    monkeypatch.setattr(SqliteLedger, "_add_batch", counting)

    async def scenario() -> list[object]:
        await ledger.add(record("dup"))
        return await asyncio.gather(*(ledger.add(record(f"r{n}")) for n in range(20)), ledger.add(record("dup")),
                                    return_exceptions=True)

    try:
        outcomes = asyncio.run(scenario())
        assert [o for o in outcomes if o is not None] and isinstance(outcomes[-1], RecordExists)
        assert outcomes[:-1] == [None] * 20
        assert len(batches) < 22  # fewer transactions than adds
    finally:
        ledger.close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 21
