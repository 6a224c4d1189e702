"""The lifecycle rules on fakes: upload terms, the life policy, the janitor,
and the settings that configure them."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

import pytest

from config import Config, ConfigError, describe_limits, parse_config
from domain.errors import BadUploadTerms
from domain.janitor import BATCH, Janitor
from domain.lifecycle import Lifecycle, rfc3339
from domain.terms import LifecyclePolicy, UploadTerms
from ports.ledger import Record
from tests.fake_ledger import MemoryLedger
from tests.fakes import FakeClock, MemoryStore

T = TypeVar("T")
DAY = 86400.0


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


@pytest.mark.parametrize("expires_in, max_days, max_downloads, terms", [
    (None, None, None, UploadTerms(None, None)),
    ("12h", None, None, UploadTerms(12 * 3600.0, None)),
    (" 90 ", None, None, UploadTerms(90.0, None)),
    ("0", None, None, UploadTerms(0.0, None)),
    (None, "3", None, UploadTerms(3 * DAY, None)),
    ("1w", "3", None, UploadTerms(3 * DAY, None)),
    ("0", "3", None, UploadTerms(3 * DAY, None)),  # forever and 3 days: 3 days
    (None, None, "5", UploadTerms(None, 5)),
    (None, None, "999999999", UploadTerms(None, 999_999_999)),
])
def test_upload_terms_from_headers(expires_in: str | None, max_days: str | None, max_downloads: str | None,
                                   terms: UploadTerms) -> None:
    assert UploadTerms.parse(expires_in, max_days, max_downloads) == terms


@pytest.mark.parametrize("expires_in, max_days, max_downloads", [
    ("1H", None, None), ("h", None, None), ("1h1h", None, None), ("١", None, None),
    (None, "", None), (None, "0", None), (None, "²", None), (None, "100000", None),
    (None, None, "0"), (None, None, "+1"), (None, None, "1 2"), (None, None, "1" * 10), (None, None, "1" * 10_000),
])
def test_bad_upload_terms_are_refused(expires_in: str | None, max_days: str | None,
                                      max_downloads: str | None) -> None:
    with pytest.raises(BadUploadTerms):
        UploadTerms.parse(expires_in, max_days, max_downloads)


def test_parsing_hostile_terms_costs_no_more_than_short_ones() -> None:
    def cost(n: int) -> float:
        start = time.perf_counter()
        for _ in range(200):
            for text in ("9" * n, "1" * n + "d"):
                for args in ((text, None, None), (None, text, None), (None, None, text)):
                    with pytest.raises(BadUploadTerms):
                        UploadTerms.parse(*args)
        return time.perf_counter() - start

    assert cost(100_000) < 20 * cost(100) + 0.05


@pytest.mark.parametrize("policy, asked, life", [
    (LifecyclePolicy(), None, 7 * DAY),
    (LifecyclePolicy(), 60.0, 60.0),
    (LifecyclePolicy(), 8 * DAY, 7 * DAY),
    (LifecyclePolicy(), 0.0, 7 * DAY),
    (LifecyclePolicy(max_ttl=30 * DAY), 8 * DAY, 8 * DAY),
    (LifecyclePolicy(max_ttl=0), 0.0, None),
    (LifecyclePolicy(max_ttl=0), 400 * DAY, 400 * DAY),
    (LifecyclePolicy(default_ttl=0), None, None),
    (LifecyclePolicy(default_ttl=0), 60.0, 60.0),
])
def test_the_policy_grants_a_life_no_longer_than_its_ceiling(
        policy: LifecyclePolicy, asked: float | None, life: float | None) -> None:
    assert policy.life(asked) == life


def test_rfc3339() -> None:
    assert rfc3339(None) is None
    assert rfc3339(1_700_000_000.9) == "2023-11-14T22:13:20Z"


def test_ttl_settings_and_their_defaults() -> None:
    config = parse_config([], {})
    assert (config.default_ttl, config.max_ttl, config.max_storage) == (7 * DAY, None, 0)
    config = parse_config(["--default-ttl", "12h", "--max-ttl", "30d", "--max-storage", "10G"], {})
    assert (config.default_ttl, config.max_ttl, config.max_storage) == (12 * 3600, 30 * DAY, 10 << 30)
    assert parse_config([], {"UDS_DEFAULT_TTL": "0", "UDS_MAX_TTL": "0"}).default_ttl == 0
    assert "files live 12h (uploads may ask for 30d)" in describe_limits(config)
    assert "files live forever (uploads may ask for any life)" in describe_limits(Config(default_ttl=0))


@pytest.mark.parametrize("argv, needle", [
    (["--default-ttl", "soon"], "--default-ttl"),
    (["--max-ttl=-1d"], "--max-ttl"),
    (["--default-ttl", "8d", "--max-ttl", "7d"], "must not exceed --max-ttl"),
    (["--default-ttl", "0", "--max-ttl", "7d"], "must not exceed --max-ttl"),
    (["--janitor-interval", "0"], "--janitor-interval"),
])
def test_bad_ttl_settings_name_the_flag(argv: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_config(argv, {})


# -- the janitor ------------------------------------------------------------------------


class FlakyStore(MemoryStore):
    """Deleting ``broken`` fails like a disk error."""

    def __init__(self, broken: set[str]) -> None:
        super().__init__()
        self.broken = broken

    async def delete(self, blob_id: str) -> None:
        if blob_id in self.broken:
            raise OSError(f"cannot unlink {blob_id}")
        await super().delete(blob_id)


def record(file_id: str, expires: float | None) -> Record:
    return Record(file_id, 1, 0.0, expires, None, 0, "0" * 64, "")


def make(store: MemoryStore) -> tuple[MemoryLedger, FakeClock, Janitor]:
    ledger = MemoryLedger()
    clock = FakeClock()
    return ledger, clock, Janitor(Lifecycle(ledger, store, clock, LifecyclePolicy()), clock, 30)


def test_a_sweep_removes_every_expired_file_in_batches_and_nothing_else() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        ledger, clock, janitor = make(store)
        count = BATCH * 2 + 7
        for n in range(count):
            store.blobs[f"f{n}"] = (b"x", {})
            await ledger.add(record(f"f{n}", clock.wall() - 1))
        store.blobs["alive"] = (b"x", {})
        await ledger.add(record("alive", clock.wall() + 1))
        await ledger.add(record("forever", None))
        await ledger.add(record("no-blob", clock.wall()))  # a crash after deleting the blob
        assert await janitor.sweep() == count + 1
        assert set(store.blobs) == {"alive"} and set(ledger.records) == {"alive", "forever"}
        assert await janitor.sweep() == 0

    run(scenario)


def test_a_file_that_cannot_be_removed_is_skipped_and_retried_by_the_next_sweep() -> None:
    async def scenario() -> None:
        broken = {f"f{n}" for n in range(BATCH + 3)}  # more failures than a batch
        store = FlakyStore(broken)
        ledger, clock, janitor = make(store)
        for n in range(BATCH + 10):
            store.blobs[f"f{n}"] = (b"x", {})
            await ledger.add(record(f"f{n}", clock.wall() - 1000 + n))  # the broken ones expire first
        assert await janitor.sweep() == 7
        assert set(ledger.records) == broken
        broken.clear()
        assert await janitor.sweep() == BATCH + 3
        assert not ledger.records and not store.blobs

    run(scenario)


def test_the_janitor_sweeps_every_interval_and_survives_a_failed_sweep() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        ledger, clock, janitor = make(store)
        calls = []
        real = ledger.expired

        async def expired(now: float, limit: int) -> list[str]:
            calls.append(now)
            if len(calls) == 1:
                raise OSError("disk on fire")
            return await real(now, limit)

        ledger.expired = expired  # type: ignore[method-assign]
        store.blobs["a"] = (b"x", {})
        await ledger.add(record("a", clock.wall() + 45))
        task = asyncio.ensure_future(janitor.run())

        async def stop_after(seconds: float) -> None:
            await clock.sleep(seconds)
            task.cancel()

        await clock.run(stop_after(100))
        assert [now - calls[0] for now in calls] == [0, 30, 60, 90]  # on, despite the first one failing
        assert not store.blobs  # expired at +45, removed by the sweep at +60

    run(scenario)
