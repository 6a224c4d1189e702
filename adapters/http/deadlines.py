"""The timeouts of one connection, on one lazily re-armed timer.

A wait records its deadline and the future to fail; the timer, when it fires
before the current deadline (because the deadline moved later meanwhile),
sleeps on to it instead of failing. A keep-alive connection thus costs no
timer-heap traffic per request: most waits end long before their deadline,
and moving a deadline later is a float assignment.
"""

from __future__ import annotations

import asyncio

DEADLINE_SLACK = 0.001  # the event loop may run a timer up to its clock resolution early


class StallTimeout(TimeoutError):
    """A body or a download made no progress for ``body_timeout`` seconds."""


class HeaderTimeout(TimeoutError):
    """A request head did not arrive within ``header_timeout`` seconds."""


class Deadline:
    """At most one wait at a time is timed; ``arm`` replaces the previous one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._at = 0.0  # loop time at which the armed wait fails; 0 when none
        self._error: type[TimeoutError] = TimeoutError
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def arm(self, waiter: asyncio.Future[None], timeout: float, error: type[TimeoutError]) -> None:
        """Fail ``waiter`` with ``error()`` ``timeout`` seconds from now,
        unless ``disarm`` is called first."""
        at = self._loop.time() + timeout
        self._at = at
        self._error = error
        self._waiter = waiter
        if self._timer is None or self._timer_at > at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(at, self._fire)
            self._timer_at = at

    def disarm(self) -> None:
        """The armed wait ended; its timer stays, and finds nothing to fail."""
        self._at = 0.0
        self._waiter = None

    def cancel(self) -> None:
        """The connection is gone: no timer may run for it any more."""
        self.disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        at = self._at
        if not at:
            return
        if self._loop.time() + DEADLINE_SLACK < at:
            self._timer = self._loop.call_at(at, self._fire)
            self._timer_at = at
            return
        waiter, error = self._waiter, self._error
        self.disarm()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error())
