"""Token buckets implementing the throttle port.

The bucket is kept as one number, the moment it will be empty given every
byte reserved so far (GCRA / virtual scheduling). ``acquire`` reserves its
bytes immediately and then sleeps until they are paid for, so concurrent
waiters are served in the order they asked: a shared bucket is split fairly
between transfers that ask for equal slices, and a late joiner waits at most
one round. At rate R with burst B, moving N >= B bytes from a full bucket
takes exactly (N - B) / R seconds.

Giving back. A wait that ends in an exception (the transfer was cancelled:
its client left, a timeout, shutdown) gives back what it reserved, since
those bytes never move. Every waiter's wake-up time is fixed when it
reserves, so the others cannot simply move up: the bucket is recomputed as
GCRA over the bytes that will really move, each at its own time (a waiter
at its wake-up, others when they reserved), in the order they reserved,
from the state before the oldest waiter reserved. With nobody reserved
after it, a cancelled reservation is thus undone exactly, as if it had
never been asked for; with others waiting behind it, only as much comes
back as their fixed wake-up times leave room for within the burst (none
when a whole burst waits behind it), so no pattern of cancellations lets
the bytes exceed the rate. Bytes whose wait is over are never given back,
even if the caller then fails to send them (its connection is lost): they
cost at most one slice per failed transfer, and only the caller knows
whether they moved. Likewise a ``ThrottleChain`` cancelled while waiting in
a later bucket keeps the slice already paid for in the earlier ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from ports.throttle import Clock, Throttle

MIN_BURST = 64 * 1024
MIN_SLICE = 16 * 1024


def default_burst(rate: int) -> int:
    """The larger of 64 KiB and a tenth of a second at ``rate``."""
    return max(MIN_BURST, rate // 10)


@dataclass
class _Reservation:
    moves_at: float  # when its bytes move: the wake-up of a waiter, else when reserved
    seconds: float  # its bytes at the rate
    waiting: bool = True
    cancelled: bool = False


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
        # Reservations since the oldest one still waiting (empty when none
        # waits), and the bucket's state before them: what a refund is
        # recomputed from.
        self._recent: deque[_Reservation] = deque()
        self._before_recent = self._empty_at

    @property
    def unlimited(self) -> bool:
        return False

    @property
    def chunk_size(self) -> int:
        # About an eighth of a second of budget: smooth pacing without a
        # syscall per kilobyte; never more than the burst.
        return min(self._burst, max(MIN_SLICE, int(self._rate) // 8))

    async def acquire(self, nbytes: int) -> None:
        """Reserve ``nbytes``, a piece of at most ``burst`` at a time, and
        wait until each piece is paid for. If a wait ends in an exception
        (cancellation), the piece it waited for is given back as the module
        docstring says, and the exception propagates."""
        while nbytes > 0:
            piece = min(nbytes, self._burst)
            nbytes -= piece
            now = self._clock.now()
            seconds = piece / self._rate
            before = self._empty_at
            self._empty_at = max(before, now - self._tolerance) + seconds
            wait = self._empty_at - now
            if wait <= 1e-9:  # float residue of an exactly paid bucket is not a wait
                if self._recent:  # it moves now, and counts in a refund's recomputation
                    self._recent.append(_Reservation(now, seconds, waiting=False))
                continue
            if not self._recent:
                self._before_recent = before
            reservation = _Reservation(self._empty_at, seconds)
            self._recent.append(reservation)
            try:
                await self._clock.sleep(wait)
            except BaseException:
                reservation.cancelled = True
                self._empty_at = min(self._empty_at, self._replay(self._before_recent, self._recent))
                raise
            finally:
                reservation.waiting = False
                self._forget_settled()

    def _replay(self, state: float, reservations: Iterable[_Reservation]) -> float:
        """GCRA over the reservations not cancelled, from ``state``."""
        for r in reservations:
            if not r.cancelled:
                state = max(state, r.moves_at - self._tolerance) + r.seconds
        return state

    def _forget_settled(self) -> None:
        """Fold the reservations older than every waiter into the state."""
        recent = self._recent
        while recent and not recent[0].waiting:
            self._before_recent = self._replay(self._before_recent, (recent.popleft(),))


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
