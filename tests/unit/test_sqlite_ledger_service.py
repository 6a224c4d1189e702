"""What the service needs of the SQLite ledger beyond the port: the start-up
helpers (freeing a killed service's reservations, finding and adding records
in bulk) and batched reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from adapters.ledger.sqlite import SqliteLedger
from adapters.ledger.startup import ID_BATCH, add_records, unknown_ids
from ports.ledger import Record

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def record(file_id: str, max_downloads: int | None = None) -> Record:
    return Record(file_id, 10, 1000.0, None, max_downloads, 0, "ab" * 32, "198.51.100.1")


def test_clearing_reservations_at_start_up_frees_the_slots_of_a_killed_service(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(path)
    ledger.prepare()

    async def held() -> None:  # a service holds the only slot of "busy", then dies
        await ledger.add(record("busy", max_downloads=1))
        await ledger.add(record("done", max_downloads=1))
        assert await ledger.reserve_download("busy", 1000.0, 600.0) is not None
        assert await ledger.reserve_download("busy", 1000.0, 600.0) is None
        done = await ledger.reserve_download("done", 1000.0, 600.0)
        assert done is not None and await ledger.complete_download(done, 1000.0) == 0

    run(held)
    ledger.close()
    restarted = SqliteLedger(path)
    restarted.prepare()
    assert restarted.clear_reservations() == 1

    async def after() -> None:
        assert await restarted.reserve_download("busy", 1000.0, 600.0) is not None
        assert await restarted.reserve_download("done", 1000.0, 600.0) is None  # counted ones stay counted

    run(after)
    restarted.close()


def test_the_gets_of_one_turn_of_the_loop_share_one_job_of_the_ledger_thread(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", durable=False)
    ledger.prepare()

    async def scenario() -> None:
        for n in range(50):
            await ledger.add(record(f"f{n}"))
        pool = ledger._executor()
        jobs = 0
        submit = pool.submit

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal jobs
            jobs += 1
            return submit(*args, **kwargs)

        pool.submit = counting  # type: ignore[method-assign]
        got = await asyncio.gather(*(ledger.get(f"f{n}") for n in range(50)), ledger.get("missing"))
        assert [r.id if r else None for r in got] == [f"f{n}" for n in range(50)] + [None]
        assert jobs == 1

    run(scenario)
    ledger.close()


def test_unknown_ids_and_bulk_adds_across_query_batches(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", durable=False)
    ledger.prepare()
    ids = [f"f{n:05d}" for n in range(ID_BATCH * 2 + 3)]
    assert add_records(ledger, [record(file_id) for file_id in ids[::2]]) == len(ids[::2])
    assert unknown_ids(ledger, ids) == ids[1::2]
    assert add_records(ledger, [record(file_id) for file_id in ids]) == len(ids[1::2])  # the others kept
    assert unknown_ids(ledger, ids) == [] and unknown_ids(ledger, []) == []
    assert run(ledger.total_bytes) == 10 * len(ids)
    ledger.close()
