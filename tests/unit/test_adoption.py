"""Start-up adoption of blobs without a ledger record, on the real store and
ledger in a temporary directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.adoption import adopt_unrecorded_blobs
from adapters.ledger.sqlite import SqliteLedger
from adapters.ledger.startup import add_records
from adapters.storage.filesystem import FileSystemStore
from domain.lifecycle import Lifecycle
from domain.terms import LifecyclePolicy
from ports.ledger import Record
from tests.fakes import FakeClock

METADATA = {"name": "old.bin", "content_type": "application/octet-stream", "sha256": "0" * 64,
            "created": "2024-01-01T00:00:00Z"}


def make(tmp_path: Path, ids: list[str]) -> tuple[FileSystemStore, SqliteLedger]:
    store = FileSystemStore(tmp_path / "storage", fsync=False)
    store.prepare()

    async def commit() -> None:
        for file_id in ids:
            writer = await store.open_writer(file_id, None)
            await writer.write(file_id.encode())
            await writer.commit(METADATA)

    asyncio.run(commit())
    store = FileSystemStore(tmp_path / "storage", fsync=False)  # a fresh start: prepare() finds the shards
    store.prepare()
    ledger = SqliteLedger(tmp_path / "storage" / "ledger.sqlite3", durable=False)
    ledger.prepare()
    return store, ledger


def test_blobs_without_a_record_are_adopted_with_the_default_life_from_now(tmp_path: Path) -> None:
    ids = [f"{prefix}{n:03d}" for prefix in ("aa", "ab", "zz") for n in range(300)]  # 900 blobs in 3 shards
    store, ledger = make(tmp_path, ids)
    known = Record("aa000", 5, 1.0, 99.0, 3, 1, "f" * 64, "198.51.100.1")
    assert add_records(ledger, [known]) == 1
    clock = FakeClock(wall=1_800_000_000.0)
    lifecycle = Lifecycle(ledger, store, clock, LifecyclePolicy(default_ttl=3600))
    (tmp_path / "storage" / "objects" / "zz" / "zz299").write_bytes(b"not a blob")

    assert adopt_unrecorded_blobs(store, ledger, lifecycle) == len(ids) - 2  # the known one, the damaged one

    async def records() -> None:
        assert await ledger.get("aa000") == known  # an existing record is left as it is
        assert await ledger.get("zz299") is None
        adopted = await ledger.get("ab123")
        assert adopted is not None
        assert (adopted.size, adopted.expires, adopted.max_downloads, adopted.downloads) == (5, 1_800_003_600, None, 0)
        assert adopted.created == 1_704_067_200.0  # the blob's own creation time
        assert await ledger.total_bytes() == 5 * (len(ids) - 1)

    asyncio.run(records())
    assert adopt_unrecorded_blobs(store, ledger, lifecycle) == 0
    ledger.close()


def test_without_a_default_life_adopted_blobs_live_forever(tmp_path: Path) -> None:
    store, ledger = make(tmp_path, ["abc"])
    lifecycle = Lifecycle(ledger, store, FakeClock(), LifecyclePolicy(default_ttl=0))
    assert adopt_unrecorded_blobs(store, ledger, lifecycle) == 1

    async def record() -> None:
        adopted = await ledger.get("abc")
        assert adopted is not None and adopted.expires is None

    asyncio.run(record())
    ledger.close()
