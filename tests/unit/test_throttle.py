"""Token buckets on the fake clock, to the byte."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, Coroutine

import pytest

from adapters.throttle import UNLIMITED, RateLimits, ThrottleChain, TokenBucket, default_burst
from ports.throttle import Throttle
from tests.fakes import FakeClock


def in_virtual_time(scenario: Callable[[FakeClock], Coroutine[Any, Any, None]]) -> None:
    clock = FakeClock()
    asyncio.run(scenario(clock))


async def move(throttle: Throttle, total: int, piece: int) -> None:
    while total > 0:
        n = min(piece, total)
        await throttle.acquire(n)
        total -= n


@pytest.mark.parametrize("rate, burst, total, piece", [
    (200_000, 65_536, 1_000_000, 20_000),
    (200_000, 65_536, 1_000_000, 65_536),
    (10_000, 65_536, 500_000, 1_000),
    (1_000_000, 100_000, 5_000_000, 250_000),  # pieces larger than the burst are split
    (7, 3, 100, 1),
])
def test_moving_n_bytes_takes_exactly_n_minus_burst_over_rate(rate: int, burst: int, total: int,
                                                              piece: int) -> None:
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(rate, burst, clock)
        start = clock.now()
        await clock.run(move(bucket, total, piece))
        assert clock.now() - start == pytest.approx((total - burst) / rate, abs=1e-9)

    in_virtual_time(scenario)


def test_a_transfer_within_the_burst_does_not_wait() -> None:
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(1000, 5000, clock)
        await clock.run(move(bucket, 5000, 100))
        assert clock.sleeps == []
        await clock.run(bucket.acquire(1))
        assert clock.sleeps == [pytest.approx(0.001)]

    in_virtual_time(scenario)


def test_an_idle_bucket_refills_to_the_burst_and_no_more() -> None:
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(1000, 2000, clock)
        await clock.run(move(bucket, 2000, 2000))  # empty it
        clock.time += 100.0  # idle long enough to refill many times over
        start = clock.now()
        await clock.run(move(bucket, 6000, 500))
        assert clock.now() - start == pytest.approx((6000 - 2000) / 1000, abs=1e-9)

    in_virtual_time(scenario)


def test_requests_larger_than_the_burst_are_split_not_refused() -> None:
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(1000, 100, clock)
        start = clock.now()
        await clock.run(bucket.acquire(10_100))
        assert clock.now() - start == pytest.approx(10.0, abs=1e-9)
        assert all(s <= 0.1 + 1e-9 for s in clock.sleeps)

    in_virtual_time(scenario)


def test_per_connection_and_total_buckets_compose() -> None:
    async def scenario(clock: FakeClock) -> None:
        # The total is the tighter limit: it decides.
        own = TokenBucket(100_000, 10_000, clock)
        shared = TokenBucket(50_000, 10_000, clock)
        chain = ThrottleChain([own, shared])
        start = clock.now()
        await clock.run(move(chain, 510_000, 5_000))
        assert clock.now() - start == pytest.approx((510_000 - 10_000) / 50_000, abs=1e-9)
        # The connection's own limit is the tighter one: it decides.
        own = TokenBucket(20_000, 10_000, clock)
        shared = TokenBucket(50_000, 10_000, clock)
        chain = ThrottleChain([own, shared])
        start = clock.now()
        await clock.run(move(chain, 210_000, 5_000))
        assert clock.now() - start == pytest.approx((210_000 - 10_000) / 20_000, abs=1e-9)

    in_virtual_time(scenario)


def test_two_connections_each_obey_their_own_limit_and_together_the_total() -> None:
    async def scenario(clock: FakeClock) -> None:
        shared = TokenBucket(60_000, 10_000, clock)
        a = ThrottleChain([TokenBucket(40_000, 10_000, clock), shared])
        b = ThrottleChain([TokenBucket(40_000, 10_000, clock), shared])
        start = clock.now()
        await clock.run(move(a, 300_000, 5_000), move(b, 300_000, 5_000))
        elapsed = clock.now() - start
        # 600,000 bytes through a 60,000 B/s shared bucket: ~10 s; each alone would need 7.25 s at 40,000 B/s.
        assert elapsed == pytest.approx((600_000 - 10_000) / 60_000, rel=0.01)

    in_virtual_time(scenario)


@pytest.mark.parametrize("consumers", [2, 4, 10])
def test_a_shared_bucket_is_shared_fairly(consumers: int) -> None:
    rate, slice_size = 400_000, 10_000

    async def scenario(clock: FakeClock) -> None:
        shared = TokenBucket(rate, default_burst(rate), clock)
        received = [0] * consumers
        window: list[list[int]] = []
        start = clock.now()

        async def consumer(index: int) -> None:
            while clock.now() - start < 5.0:
                await shared.acquire(slice_size)
                received[index] += slice_size

        async def sampler() -> None:
            # Snapshot at 1 s and at 5 s: fairness is judged on what moved between.
            await clock.sleep(1.0)
            window.append(list(received))
            await clock.sleep(4.0)
            window.append(list(received))

        await clock.run(sampler(), *(consumer(i) for i in range(consumers)))
        moved = [after - before for before, after in zip(window[0], window[1])]
        fair = sum(moved) / consumers
        assert all(abs(m - fair) <= 0.05 * fair for m in moved), moved
        assert sum(moved) == pytest.approx(rate * 4.0, rel=0.05)

    in_virtual_time(scenario)


def test_a_late_joiner_is_not_starved() -> None:
    rate, slice_size = 100_000, 5_000

    async def scenario(clock: FakeClock) -> None:
        shared = TokenBucket(rate, 10_000, clock)
        early_bytes = 0
        late_bytes = 0
        start = clock.now()

        async def early() -> None:
            nonlocal early_bytes
            while clock.now() - start < 6.0:
                await shared.acquire(slice_size)
                early_bytes += slice_size

        async def late() -> None:
            nonlocal late_bytes
            await clock.sleep(3.0)
            joined = clock.now()
            while clock.now() - joined < 3.0:
                await shared.acquire(slice_size)
                late_bytes += slice_size

        await clock.run(early(), late())
        # Over the three shared seconds the late joiner gets about half of 300 kB.
        assert late_bytes == pytest.approx(150_000, rel=0.05)

    in_virtual_time(scenario)


def test_unlimited_and_chain_properties() -> None:
    clock = FakeClock()
    assert UNLIMITED.unlimited
    assert ThrottleChain([UNLIMITED, UNLIMITED]).unlimited
    bucket = TokenBucket(200_000, 65_536, clock)
    assert not bucket.unlimited
    assert bucket.chunk_size == 25_000  # an eighth of a second
    assert TokenBucket(10_000, 65_536, clock).chunk_size == 16 * 1024
    assert TokenBucket(10_000, 4_096, clock).chunk_size == 4_096  # never above the burst
    chain = ThrottleChain([UNLIMITED, bucket])
    assert not chain.unlimited and chain.chunk_size == bucket.chunk_size
    with pytest.raises(ValueError):
        TokenBucket(0, 10, clock)


def test_default_burst() -> None:
    assert default_burst(10_000) == 65_536
    assert default_burst(10_000_000) == 1_000_000


def test_rate_limits_hand_out_fresh_own_buckets_and_one_shared() -> None:
    async def scenario(clock: FakeClock) -> None:
        limits = RateLimits(clock, download_rate=100_000, total_download_rate=150_000)
        assert limits.connection().upload("c").unlimited
        a, b = limits.connection().download("c"), limits.connection().download("c")
        assert a is not b
        start = clock.now()
        # Each connection alone is held to 100 kB/s, both together to 150 kB/s.
        await clock.run(move(a, 515_000, 10_000), move(b, 515_000, 10_000))
        assert clock.now() - start == pytest.approx((1_030_000 - 65_536) / 150_000, rel=0.02)

        only_total = RateLimits(clock, total_upload_rate=50_000)
        assert only_total.connection().upload("c") is only_total.connection().upload("d")
        only_own = RateLimits(clock, upload_rate=50_000, burst=1_000)
        start = clock.now()
        await clock.run(move(only_own.connection().upload("c"), 51_000, 1_000))
        assert clock.now() - start == pytest.approx(1.0, abs=1e-9)

    in_virtual_time(scenario)


# -- cancelled waits give their bytes back -------------------------------------------------------


async def cancel_during_wait(clock: FakeClock, bucket: TokenBucket, nbytes: int, after: float,
                             log: list[str]) -> None:
    """Reserve ``nbytes`` and be cancelled ``after`` seconds into the wait."""
    async def transfer() -> None:
        try:
            await bucket.acquire(nbytes)
        except asyncio.CancelledError:
            log.append(f"cancelled at {clock.now() - 1000.0:g}")
            return
        log.append("not cancelled")

    task = asyncio.ensure_future(transfer())

    async def canceller() -> None:
        await clock.sleep(after)
        task.cancel()

    await clock.run(task, canceller())


@pytest.mark.parametrize("after", [0.0, 0.4, 0.999])
def test_a_transfer_cancelled_mid_wait_leaves_the_rate_as_if_it_never_reserved(after: float) -> None:
    """Rate 1000 B/s, burst 1000: the first 1000 bytes go at once, the next
    1000 wait 1 s. Cancelled ``after`` s into that wait, those 1000 bytes
    never moved: a new transfer of 3000 bytes is then due exactly 3 s after
    the burst, as if the cancelled bytes had never been asked for (the
    time the cancelled waiter spent is the bucket refilling)."""
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(1000, 1000, clock)
        start = clock.now()
        await clock.run(bucket.acquire(1000))
        log: list[str] = []
        await cancel_during_wait(clock, bucket, 1000, after, log)
        assert log == [f"cancelled at {after:g}"]
        await clock.run(move(bucket, 3000, 1000))
        assert clock.now() - start == pytest.approx(3.0, abs=1e-9)

    in_virtual_time(scenario)


def test_a_cancelled_split_request_gives_back_only_its_current_piece() -> None:
    """10,000 bytes through a 1000-byte burst are reserved a piece at a
    time. Cancelled 2.5 s in, the pieces whose wait was over (at 0, 1 and
    2 s) stay paid and only the piece being waited for comes back: the next
    1000 bytes are due at 3 s (4 s if it were kept)."""
    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(1000, 1000, clock)
        start = clock.now()
        log: list[str] = []
        await cancel_during_wait(clock, bucket, 10_000, 2.5, log)
        assert log == ["cancelled at 2.5"]
        await clock.run(bucket.acquire(1000))
        assert clock.now() - start == pytest.approx(3.0, abs=1e-9)

    in_virtual_time(scenario)


def test_a_cancelled_waiter_never_lets_a_newcomer_overtake_the_waiters_behind_it() -> None:
    """A (500 bytes) and then B wait in an empty bucket; A is cancelled. A's
    slot can only be given to a newcomer C as far as B, whose wake-up time
    is fixed, leaves room within the burst: B of 500 bytes leaves 500; B of
    a whole burst leaves none (C then waits exactly as if A had moved)."""
    async def scenario(clock: FakeClock, b_bytes: int, c_due: float) -> None:
        bucket = TokenBucket(1000, 1000, clock)
        await clock.run(bucket.acquire(1000))  # empty it
        start = clock.now()
        moved: list[tuple[float, str]] = []

        async def b() -> None:
            await bucket.acquire(b_bytes)
            moved.append((clock.now() - start, "B"))

        async def c() -> None:
            await clock.sleep(0.1)
            await bucket.acquire(1000)
            moved.append((clock.now() - start, "C"))

        task_a = asyncio.ensure_future(bucket.acquire(500))
        await clock.run(clock.sleep(0))  # A reserves first
        task_b = asyncio.ensure_future(b())

        async def cancel_a() -> None:
            await clock.sleep(0.1)
            task_a.cancel()

        await clock.run(task_b, cancel_a(), c())
        assert task_a.cancelled()
        assert [name for _, name in moved] == ["B", "C"]
        assert [at for at, _ in moved] == pytest.approx([0.5 + b_bytes / 1000, c_due], abs=1e-9)

    in_virtual_time(lambda clock: scenario(clock, 500, 1.5))
    in_virtual_time(lambda clock: scenario(clock, 1000, 2.5))


@pytest.mark.parametrize("seed", range(40))
def test_no_pattern_of_cancellations_lets_the_bytes_exceed_the_rate(seed: int) -> None:
    """Random transfers, pieces and cancellations on one bucket; the bytes
    that really moved (acquires that returned) must fit every window:
    at most ``rate * (t_j - t_i) + burst`` between moves i and j. (Giving
    back all that was reserved and not yet elapsed fails this: a newcomer
    then overtakes waiters whose wake-up times are fixed.)"""
    rate, burst = 1000, 1000
    rng = random.Random(seed)

    async def scenario(clock: FakeClock) -> None:
        bucket = TokenBucket(rate, burst, clock)
        moves: list[tuple[float, int]] = []

        async def transfer(delay: float, pieces: list[int]) -> None:
            await clock.sleep(delay)
            for piece in pieces:
                await bucket.acquire(piece)
                moves.append((clock.now(), piece))

        tasks = [asyncio.ensure_future(transfer(rng.uniform(0, 3), [rng.randint(1, burst) for _ in range(6)]))
                 for _ in range(10)]

        async def canceller() -> None:
            for task in rng.sample(tasks, 6):
                await clock.sleep(rng.uniform(0, 1.5))
                task.cancel()

        await clock.run(canceller(), *(quietly(task) for task in tasks))
        assert moves
        moves.sort()
        for i in range(len(moves)):
            total = 0
            for j in range(i, len(moves)):
                total += moves[j][1]
                assert total <= rate * (moves[j][0] - moves[i][0]) + burst + 1e-6, (moves[i], moves[j], total)

    in_virtual_time(scenario)


async def quietly(task: asyncio.Future[None]) -> None:
    try:
        await task
    except asyncio.CancelledError:
        pass


# -- per-client budgets: all connections of one client share one bucket ------------------------------


def test_four_connections_of_one_client_share_its_budget_to_the_byte() -> None:
    """--client-download-rate 100,000 with a 10,000-byte burst: four
    connections of one client moving 250,000 bytes each take exactly as long
    as one connection moving 1,000,000 (aria2c -x4 gains nothing), and they
    share fairly (they finish within two rounds of each other); another
    client, at the same time, has its own budget."""
    async def scenario(clock: FakeClock) -> None:
        limits = RateLimits(clock, client_download_rate=100_000, burst=10_000)
        finished: dict[str, float] = {}

        async def connection(name: str, client: str, total: int) -> None:
            throttle = limits.connection().download(client)
            await move(throttle, total, throttle.chunk_size)
            finished[name] = clock.now() - 1000.0

        await clock.run(*(connection(f"a{i}", "a", 250_000) for i in range(4)),
                        connection("b", "b", 250_000))
        assert finished["b"] == pytest.approx((250_000 - 10_000) / 100_000, abs=1e-9)
        together = [finished[f"a{i}"] for i in range(4)]
        assert max(together) == pytest.approx((1_000_000 - 10_000) / 100_000, abs=1e-9)
        # Fair: served a slice each in turn, so they finish within two rounds
        # of four slices (the first to ask is one round ahead).
        slice_seconds = limits.connection().download("a").chunk_size / 100_000
        assert max(together) - min(together) <= 8 * slice_seconds + 1e-9

    in_virtual_time(scenario)


def test_client_budgets_combine_with_per_connection_and_total_limits() -> None:
    async def scenario(clock: FakeClock) -> None:
        limits = RateLimits(clock, upload_rate=20_000, client_upload_rate=50_000, total_upload_rate=60_000,
                            burst=1_000)
        # One connection: its own 20,000 B/s is the tightest.
        start = clock.now()
        await clock.run(move(limits.connection().upload("a"), 201_000, 1_000))
        assert clock.now() - start == pytest.approx(10.0, abs=1e-9)
        # Four connections of "a": the client's 50,000 B/s; with "b" too, the total's 60,000 B/s.
        start = clock.now() + 100
        clock.time = start
        await clock.run(*(move(limits.connection().upload("a"), 125_250, 1_000) for _ in range(4)))
        assert clock.now() - start == pytest.approx((501_000 - 1_000) / 50_000, abs=1e-9)
        assert limits.connection().download("a").unlimited
        # Two clients under a total: "a" (four connections) and "b" share the total's 60,000 B/s.
        limits = RateLimits(clock, client_upload_rate=50_000, total_upload_rate=60_000, burst=1_000)
        start = clock.now()
        await clock.run(*(move(limits.connection().upload("a"), 100_000, 1_000) for _ in range(4)),
                        move(limits.connection().upload("b"), 200_000, 1_000))
        # Never faster than the total allows; a little slower, since a chain
        # pays its buckets one after the other and a 1,000-byte burst banks
        # only one slice meanwhile.
        assert (600_000 - 1_000) / 60_000 - 1e-9 <= clock.now() - start <= 1.05 * (600_000 - 1_000) / 60_000

    in_virtual_time(scenario)


def test_idle_client_buckets_are_forgotten_without_changing_the_rate() -> None:
    """A table of 2 clients: a bucket is dropped only once idle (full, no
    waiter), and a client whose bucket was dropped between two slices of one
    transfer gets exactly the same timing as if it had been kept."""
    async def scenario(clock: FakeClock) -> None:
        limits = RateLimits(clock, client_download_rate=1_000, burst=1_000, max_clients=2)
        buckets = limits.client_download
        assert buckets is not None
        a = limits.connection().download("a")
        start = clock.now()
        await clock.run(move(a, 3_000, 1_000))  # 2 s, then "a" is empty
        assert clock.now() - start == pytest.approx(2.0, abs=1e-9)
        # "b" and "c" arrive while "a" is not yet full again: "a" is busy, so
        # only the table being full drops it (forced).
        clock.time += 0.5
        await clock.run(move(limits.connection().download("b"), 1, 1))
        assert "a" in buckets.table
        clock.time += 1.0  # "a" and "b" are full again: idle
        await clock.run(move(limits.connection().download("c"), 1, 1))
        assert "a" not in buckets.table and buckets.table.forced == 0
        # "a" goes on with the same throttle: a fresh bucket, as the old one would have been (full).
        start = clock.now()
        await clock.run(move(a, 3_000, 1_000))
        assert clock.now() - start == pytest.approx(2.0, abs=1e-9)
        # Waiting buckets are never dropped as idle.
        waiting = asyncio.ensure_future(clock.run(move(limits.connection().download("d"), 5_000, 1_000)))
        await asyncio.sleep(0)
        await clock.run(move(limits.connection().download("e"), 1, 1))
        assert "d" in buckets.table
        await waiting

    in_virtual_time(scenario)
