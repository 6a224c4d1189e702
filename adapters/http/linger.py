"""Closing a connection without destroying the last answer or waiting forever.

When the peer may still be sending (a body we did not read, a head we
refused), closing at once would make the kernel answer its next bytes with a
reset, which can destroy our error response before the client reads it. So
such connections linger (``Linger``): our side is shut down for writing and
whatever arrives is discarded until the peer closes, goes quiet for
``LINGER_IDLE`` seconds, or ``LINGER_MAX`` seconds pass.

A close must also never wait for a peer that stopped reading: the
transport's ``close`` waits until its buffer is written, so a connection
closed with bytes still queued is aborted once they make no progress for the
stall timeout (``FlushWatch``), and a lingering one when the linger ends.
"""

from __future__ import annotations

import asyncio

from adapters.http.sender import unsent

LINGER_IDLE = 2.0
LINGER_MAX = 10.0


class Linger:
    """Discards what a closing connection's peer still sends, after shutting
    down our writing side (the FIN follows the buffered response); aborts the
    transport when the peer has been quiet for ``LINGER_IDLE`` seconds or
    after ``LINGER_MAX`` seconds. The peer's own close ends it sooner (via
    ``eof_received`` and ``connection_lost``; the owner cancels it there), and
    until then this timer also bounds a close that waits for a response
    the peer does not read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> None:
        self._loop = loop
        self._transport = transport
        self._deadline = loop.time() + LINGER_MAX
        self.discarded = 0
        self._timer = loop.call_later(LINGER_IDLE, self._expire)
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:  # the peer is already gone (ENOTCONN): nothing to linger for
                self._timer.cancel()
                transport.abort()

    def data_received(self, data: bytes) -> None:
        self.discarded += len(data)
        self._timer.cancel()
        self._timer = self._loop.call_at(min(self._loop.time() + LINGER_IDLE, self._deadline), self._expire)

    def _expire(self) -> None:
        # Abort, not close: a peer that stopped reading would keep a close
        # waiting for the write buffer forever.
        self._transport.abort()

    def cancel(self) -> None:
        self._timer.cancel()


class FlushWatch:
    """Bounds a close with bytes still queued: ``transport.close()`` waits
    until they are written, which a peer that stopped reading postpones for
    ever. Every ``timeout`` seconds the bytes the peer has not taken
    (``unsent``) are looked at again; if not one was taken since the last
    look, the transport is aborted. The owner cancels it from
    ``connection_lost``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, timeout: float) -> None:
        self._loop = loop
        self._transport = transport
        self._timeout = timeout
        self._left = unsent(transport)
        self._timer = loop.call_later(timeout, self._check)

    def _check(self) -> None:
        if not self._transport.get_write_buffer_size():
            return  # all handed to the kernel: the transport closes by itself
        left = unsent(self._transport)
        if left >= self._left:
            self._transport.abort()
            return
        self._left = left
        self._timer = self._loop.call_later(self._timeout, self._check)

    def cancel(self) -> None:
        self._timer.cancel()
