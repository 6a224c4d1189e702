"""Token buckets implementing the throttle port.

The bucket is kept as one number, the moment it will be empty given every
byte reserved so far (GCRA / virtual scheduling). ``acquire`` reserves its
bytes immediately and then sleeps until they are paid for, so concurrent
waiters are served in the order they asked: a shared bucket is split fairly
between transfers that ask for equal slices, and a late joiner waits at most
one round. At rate R with burst B, moving N >= B bytes from a full bucket
takes exactly (N - B) / R seconds.
"""

from __future__ import annotations

from typing import Sequence

from ports.throttle import Clock, Throttle

MIN_BURST = 64 * 1024
MIN_SLICE = 16 * 1024


def default_burst(rate: int) -> int:
    """The larger of 64 KiB and a tenth of a second at ``rate``."""
    return max(MIN_BURST, rate // 10)


class TokenBucket:
    def __init__(self, rate: int, burst: int, clock: Clock) -> None:
        """``rate`` bytes per second (> 0); ``burst`` bytes (> 0), the most
        that can go at once after an idle period. The bucket starts full."""
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._tolerance = burst / self._rate  # seconds of credit a full bucket holds
        self._empty_at = clock.now() - self._tolerance

    @property
    def unlimited(self) -> bool:
        return False

    @property
    def chunk_size(self) -> int:
        # About an eighth of a second of budget: smooth pacing without a
        # syscall per kilobyte; never more than the burst.
        return min(self._burst, max(MIN_SLICE, int(self._rate) // 8))

    async def acquire(self, nbytes: int) -> None:
        while nbytes > 0:
            piece = min(nbytes, self._burst)
            nbytes -= piece
            now = self._clock.now()
            self._empty_at = max(self._empty_at, now - self._tolerance) + piece / self._rate
            wait = self._empty_at - now
            if wait > 1e-9:  # float residue of an exactly paid bucket is not a wait
                await self._clock.sleep(wait)


class Unlimited:
    """The throttle of a transfer without limits."""

    @property
    def unlimited(self) -> bool:
        return True

    @property
    def chunk_size(self) -> int:
        return 1 << 20

    async def acquire(self, nbytes: int) -> None:
        return None


UNLIMITED = Unlimited()


class ThrottleChain:
    """A transfer that must obey several budgets at once (its own and a
    shared one): each byte is paid for in every bucket, one after the other."""

    def __init__(self, throttles: Sequence[Throttle]) -> None:
        self._throttles = [t for t in throttles if not t.unlimited]

    @property
    def unlimited(self) -> bool:
        return not self._throttles

    @property
    def chunk_size(self) -> int:
        return min((t.chunk_size for t in self._throttles), default=UNLIMITED.chunk_size)

    async def acquire(self, nbytes: int) -> None:
        for throttle in self._throttles:
            await throttle.acquire(nbytes)


class RateLimits:
    """Hands out the throttles of each new connection: a fresh per-connection
    bucket (when a per-connection rate is set) chained with the one bucket
    shared by all connections (when a total rate is set). Rates of 0 mean
    unlimited; bursts of 0 mean ``default_burst``."""

    def __init__(
        self,
        clock: Clock,
        upload_rate: int = 0,
        download_rate: int = 0,
        total_upload_rate: int = 0,
        total_download_rate: int = 0,
        burst: int = 0,
    ) -> None:
        self._clock = clock
        self._burst = burst
        self._upload_rate = upload_rate
        self._download_rate = download_rate
        self._total_upload = self._bucket(total_upload_rate)
        self._total_download = self._bucket(total_download_rate)

    def _bucket(self, rate: int) -> Throttle:
        if rate <= 0:
            return UNLIMITED
        return TokenBucket(rate, self._burst or default_burst(rate), self._clock)

    def _chain(self, own_rate: int, shared: Throttle) -> Throttle:
        own = self._bucket(own_rate)
        if own.unlimited:
            return shared
        if shared.unlimited:
            return own
        return ThrottleChain([own, shared])

    def upload(self) -> Throttle:
        """The upload throttle for a new connection."""
        return self._chain(self._upload_rate, self._total_upload)

    def download(self) -> Throttle:
        """The download throttle for a new connection."""
        return self._chain(self._download_rate, self._total_download)
