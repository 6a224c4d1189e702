"""The read side of one connection: feeds the request parser, pauses the
transport while the parser holds ``read_high_water`` bytes, and waits for
the bytes the next event needs, each wait bounded by a deadline.

Timeouts: the first request head must be complete ``header_timeout`` seconds
after the connection opened; a later one ``header_timeout`` after its first
byte (``HeaderTimeout``, answered 408); a connection idle between requests
ends silently after ``keepalive_timeout``; a body that makes no progress for
the stall timeout raises the caller's error (``StallTimeout``).
"""

from __future__ import annotations

import asyncio
from typing import Callable

from adapters.http.deadlines import Deadline, HeaderTimeout
from adapters.http.events import CLOSED, END_OF_MESSAGE, NEED_DATA, Event, IncompleteMessage, Request
from adapters.http.parser import RequestParser


class Receiver:
    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, parser: RequestParser,
                 deadline: Deadline, read_high_water: int) -> None:
        self._loop = loop
        self._transport = transport
        self.parser = parser
        self._deadline = deadline
        self._high_water = read_high_water
        self.paused = False
        self.idle = True  # waiting for a request with no byte of it received
        self.lost = False
        self._waiter: asyncio.Future[None] | None = None

    # -- from the protocol ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        if self.parser.buffered > self._high_water and not self.paused:
            self.pause()
        self._wake()

    def eof_received(self) -> None:
        self.parser.feed_eof()
        self._wake()

    def connection_lost(self) -> None:
        self.lost = True
        self.parser.feed_eof()
        self._wake()

    def pause(self) -> None:
        self.paused = True
        self._transport.pause_reading()

    def resume(self) -> None:
        self.paused = False
        self._transport.resume_reading()

    def interrupt_idle_wait(self) -> None:
        """End a wait for the next request that has not begun (shutdown)."""
        waiter = self._waiter
        if self.idle and waiter is not None and not waiter.done():
            # An exception, not a result: ``next_event`` would take a result
            # for "more bytes" and go back to waiting out the keep-alive
            # timeout; ``next_request`` ends on TimeoutError.
            waiter.set_exception(TimeoutError())

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- waiting ----------------------------------------------------------------------

    async def _wait_for_data(self, timeout: float, error: type[TimeoutError]) -> None:
        if self.paused:
            self.resume()
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._deadline.arm(waiter, timeout, error)
        try:
            await waiter
        finally:
            self._deadline.disarm()
            self._waiter = None

    async def next_event(self, max_data: int, timeout: float, error: type[TimeoutError]) -> Event:
        """The parser's next event, waiting up to ``timeout`` for bytes that
        make progress (else ``error``). Raises ``ParseError``,
        ``IncompleteMessage`` and ``ConnectionError``."""
        while True:
            event = self.parser.next_event(max_data)
            if event is not NEED_DATA:
                if self.paused and self.parser.buffered <= self._high_water // 2:
                    self.resume()
                return event
            if self.lost:
                raise IncompleteMessage("connection lost")
            await self._wait_for_data(timeout, error)

    async def next_request(self, first: bool, header_timeout: float, keepalive_timeout: float,
                           draining: Callable[[], bool]) -> Request | None:
        """The next request, or ``None`` when the peer went away, stayed idle
        past the keep-alive timeout, or the server is shutting down (``draining()``)
        while this connection is idle. Raises ``HeaderTimeout`` for a
        head that arrives too slowly and ``ParseError`` for a bad one.

        Deadlines are fixed when the wait begins and re-checked after every
        wake-up, so a client trickling a byte at a time cannot extend them."""
        loop = self._loop
        began = loop.time()
        head_deadline = began + header_timeout if first else None
        idle_deadline = began + (header_timeout if first else keepalive_timeout)
        while True:
            event = self.parser.next_event(0)
            if isinstance(event, Request):
                self.idle = False
                return event
            if event is CLOSED:
                return None
            if event is END_OF_MESSAGE:
                continue  # the end of the previous request's empty body
            if self.parser.has_partial_head:
                self.idle = False
                if head_deadline is None:
                    head_deadline = loop.time() + header_timeout
                deadline: float = head_deadline
                error: type[TimeoutError] = HeaderTimeout
            else:
                self.idle = True
                if draining():
                    return None
                deadline, error = idle_deadline, TimeoutError
            # No check of ``lost`` is needed: the parser has had EOF then, and
            # after EOF it never answers NEED_DATA.
            try:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise error()
                await self._wait_for_data(remaining, error)
            except HeaderTimeout:
                raise
            except TimeoutError:
                return None
