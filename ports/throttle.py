"""The throttle and clock ports: how fast bytes may move, and what time it is.

Time is read only through ``Clock`` so that rate limits are testable to the
byte with a fake clock.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def wall(self) -> float:
        """Wall-clock seconds since the Unix epoch (for creation timestamps)."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task (never the event loop) for ``seconds``."""


class Throttle(Protocol):
    """A budget of bytes over time for one transfer (which may itself draw on
    budgets shared with other transfers)."""

    @property
    def unlimited(self) -> bool:
        """True when ``acquire`` never waits: callers may then take the fastest
        path (``sendfile``, large reads) and skip ``acquire`` altogether."""

    @property
    def chunk_size(self) -> int:
        """The largest slice worth asking for at once (bytes). Moving data in
        slices of this size keeps the rate smooth and the buffers small."""

    async def acquire(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be moved. Any size is accepted; large
        requests are split internally, never refused. A wait that is
        cancelled gives back what it had reserved and not yet paid for, so
        later transfers never wait for bytes that did not move; bytes whose
        wait is over count as moved, whatever the caller then does."""


class ConnectionThrottles(Protocol):
    """The budgets transfers on one connection draw on. Made once per
    connection, so a per-connection limit holds across its keep-alive
    requests; asked once per transfer with the client it is for, since
    limits shared by one client's connections follow the client (behind a
    proxy, one connection carries the requests of many clients)."""

    def upload(self, client: str) -> Throttle:
        """The throttle of an upload on this connection by ``client`` (a
        client key: who per-client limits count by)."""

    def download(self, client: str) -> Throttle:
        """The throttle of a download on this connection to ``client``."""


class ThrottlePolicy(Protocol):
    """Where transfers get their throttles; limits shared by all
    connections, or by all of one client's, live inside the policy."""

    def connection(self) -> ConnectionThrottles:
        """The throttles of a new connection."""
