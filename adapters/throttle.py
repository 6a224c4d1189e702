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
from typing import Callable, Iterable, Sequence

from adapters.client_table import MAX_CLIENTS, ClientTable
from ports.metrics import WaitMeters
from ports.throttle import Clock, ConnectionThrottles, Throttle

Meter = Callable[[float], None]  # told the seconds of each wait (see ``ports/metrics.py``)

MIN_BURST = 64 * 1024
MIN_SLICE = 16 * 1024


def default_burst(rate: int) -> int:
    """The larger of 64 KiB and a tenth of a second at ``rate``."""
    return max(MIN_BURST, rate // 10)


def chunk_size(rate: int, burst: int) -> int:
    """About an eighth of a second of budget: smooth pacing without a
    syscall per kilobyte; never more than the burst."""
    return min(burst, max(MIN_SLICE, rate // 8))


@dataclass
class _Reservation:
    moves_at: float  # when its bytes move: the wake-up of a waiter, else when reserved
    seconds: float  # its bytes at the rate
    waiting: bool = True
    cancelled: bool = False


class TokenBucket:
    def __init__(self, rate: int, burst: int, clock: Clock, waited: Meter | None = None) -> None:
        """``rate`` bytes per second (> 0); ``burst`` bytes (> 0), the most
        that can go at once after an idle period. The bucket starts full.
        ``waited(seconds)`` after every wait, also one cut short."""
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._waited = waited
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
        return chunk_size(int(self._rate), self._burst)

    @property
    def idle(self) -> bool:
        """Full, and nobody waits: a fresh bucket would behave the same."""
        return not self._recent and self._empty_at <= self._clock.now() - self._tolerance

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
                if self._waited is not None:
                    self._waited(self._clock.now() - now)

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


class ClientBuckets:
    """One bucket per client, shared by all that client's connections
    (``--client-upload-rate``, ``--client-download-rate``), in a
    ``ClientTable``. A transfer's throttle looks its client's bucket up at
    every ``acquire`` rather than keeping it: a bucket is forgotten only
    when idle (full, nobody waiting), and the next ``acquire`` then gets a
    fresh one that behaves the same, so no two buckets of one client are
    ever drawn on at once (unless more than ``capacity`` clients are busy:
    see ``ClientTable``)."""

    def __init__(self, rate: int, burst: int, clock: Clock, capacity: int = MAX_CLIENTS,
                 waited: Meter | None = None) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._waited = waited
        self.table: ClientTable[TokenBucket] = ClientTable(lambda bucket: bucket.idle, capacity)

    def bucket(self, client: str) -> TokenBucket:
        return self.table.get(client, lambda: TokenBucket(self._rate, self._burst, self._clock, self._waited))

    def throttle(self, client: str) -> Throttle:
        return _ClientThrottle(self, client, chunk_size(self._rate, self._burst))


class _ClientThrottle:
    def __init__(self, buckets: ClientBuckets, client: str, chunk: int) -> None:
        self._buckets = buckets
        self._client = client
        self._chunk = chunk

    @property
    def unlimited(self) -> bool:
        return False

    @property
    def chunk_size(self) -> int:
        return self._chunk

    async def acquire(self, nbytes: int) -> None:
        await self._buckets.bucket(self._client).acquire(nbytes)


class RateLimits:
    """The throttle policy: each connection gets its own bucket per
    direction (when a per-connection rate is set), each client one shared
    by its connections (when a per-client rate is set), and all connections
    one shared bucket (when a total rate is set); a transfer pays every
    byte in each of them. Rates of 0 mean unlimited; bursts of 0 mean
    ``default_burst``. ``meters`` are told how long each kind of bucket
    made transfers wait."""

    def __init__(
        self,
        clock: Clock,
        upload_rate: int = 0,
        download_rate: int = 0,
        total_upload_rate: int = 0,
        total_download_rate: int = 0,
        burst: int = 0,
        client_upload_rate: int = 0,
        client_download_rate: int = 0,
        max_clients: int = MAX_CLIENTS,
        meters: WaitMeters | None = None,
    ) -> None:
        self._clock = clock
        self._burst = burst
        self.upload_rate = upload_rate
        self.download_rate = download_rate

        def meter(limit: str, direction: str) -> Meter | None:
            return None if meters is None else meters.meter(limit, direction)
        self.connection_upload_meter = meter("connection", "upload")
        self.connection_download_meter = meter("connection", "download")
        self.total_upload = self._bucket(total_upload_rate, meter("total", "upload"))
        self.total_download = self._bucket(total_download_rate, meter("total", "download"))
        self.client_upload = self._clients(client_upload_rate, max_clients, meter("client", "upload"))
        self.client_download = self._clients(client_download_rate, max_clients, meter("client", "download"))

    def _bucket(self, rate: int, waited: Meter | None) -> Throttle:
        if rate <= 0:
            return UNLIMITED
        return TokenBucket(rate, self._burst or default_burst(rate), self._clock, waited)

    def _clients(self, rate: int, capacity: int, waited: Meter | None) -> ClientBuckets | None:
        if rate <= 0:
            return None
        return ClientBuckets(rate, self._burst or default_burst(rate), self._clock, capacity, waited)

    def connection(self) -> ConnectionThrottles:
        """The throttles of a new connection."""
        return _ConnectionThrottles(self)


class _ConnectionThrottles:
    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._own_upload: Throttle | None = None
        self._own_download: Throttle | None = None

    def upload(self, client: str) -> Throttle:
        limits = self._limits
        if self._own_upload is None:
            self._own_upload = limits._bucket(limits.upload_rate, limits.connection_upload_meter)
        return _chain(self._own_upload, limits.client_upload, client, limits.total_upload)

    def download(self, client: str) -> Throttle:
        limits = self._limits
        if self._own_download is None:
            self._own_download = limits._bucket(limits.download_rate, limits.connection_download_meter)
        return _chain(self._own_download, limits.client_download, client, limits.total_download)


def _chain(own: Throttle, clients: ClientBuckets | None, client: str, total: Throttle) -> Throttle:
    """``own``, then the client's bucket, then ``total``: the limited ones,
    chained only when there is more than one."""
    throttles = [t for t in (own, None if clients is None else clients.throttle(client), total)
                 if t is not None and not t.unlimited]
    if not throttles:
        return UNLIMITED
    return throttles[0] if len(throttles) == 1 else ThrottleChain(throttles)
