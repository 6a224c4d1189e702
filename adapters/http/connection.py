"""The thin asyncio layer: one ``HttpConnection`` protocol per TCP connection.

It moves bytes between the socket and the sans-I/O parser, applies
backpressure both ways (reading pauses while the parser holds
``read_high_water`` bytes; writers wait while the transport's buffer is above
its high-water mark, and so does the next pipelined request: reading stops
until the answers already written drain), enforces the header, keep-alive
and stall timeouts, and runs one ``Exchange`` at a time through the
application handler, in request order, so pipelined requests are answered in
order.

Timeouts: the first request head must be complete ``header_timeout`` seconds
after the connection opened; a later one ``header_timeout`` after its first
byte; a connection idle between requests is closed silently after
``keepalive_timeout``. A head that is late gets 408. The stall timeout
(``body_timeout``) measures a lack of progress, never the length of a
transfer: a body that stops arriving gets 408, and a response the peer stops
taking (``unsent`` stays put: no byte left our buffer or the kernel's send
queue) is aborted, however long a steady slow reader takes.

Closing: when the peer may still be sending (a body we did not read, a head
we refused), closing at once would make the kernel answer its next bytes with
a reset, which can destroy our error response before the client reads it. So
such connections linger: our side is shut down for writing and whatever
arrives is discarded until the peer closes, goes quiet for ``LINGER_IDLE``
seconds, or ``LINGER_MAX`` seconds pass. A close must also never wait for a
peer that stopped reading: the transport's ``close`` waits until its buffer
is written, so a connection closed with bytes still queued is aborted once
they make no progress for ``body_timeout`` (``FlushWatch``), and a lingering
one when the linger ends.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import sys
import termios
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

from adapters.http.parser import (
    CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    Event,
    IncompleteMessage,
    ParseError,
    Request,
    RequestParser,
)
from adapters.http.errors import error_body
from adapters.http.response import CONTINUE, JSON_HEADERS, build_head, json_bytes
from ports.storage import BlobReader

if TYPE_CHECKING:
    from adapters.http.server import HttpServer

log = logging.getLogger("uds.http")

DEADLINE_SLACK = 0.001  # the event loop may run a timer up to its clock resolution early
LINGER_IDLE = 2.0
LINGER_MAX = 10.0


@dataclass(frozen=True)
class TransportConfig:
    """Timeouts in seconds, sizes in bytes."""

    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    body_timeout: float = 60.0
    max_connections: int = 1024
    shutdown_timeout: float = 30.0
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    read_high_water: int = 256 * 1024


# Linux's SIOCOUTQ: bytes in a socket's send queue, not yet acknowledged by the peer.
SIOCOUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None


def kernel_queued(fd: int) -> int:
    """Bytes the kernel still holds for the peer on socket ``fd`` (sent but
    not acknowledged, or not yet sent); 0 where the platform does not say."""
    if SIOCOUTQ is None or fd < 0:
        return 0
    try:
        queued: int = struct.unpack("i", fcntl.ioctl(fd, SIOCOUTQ, bytes(4)))[0]
    except OSError:
        return 0
    return queued


def unsent(transport: asyncio.Transport) -> int:
    """Bytes written to ``transport`` that the peer has not yet taken: its
    buffer plus the kernel's send queue. The stall timeout's measure of
    progress is this number falling: the kernel's socket buffer may hold
    megabytes (Linux grows it to 4 MiB), so a peer reading slowly but
    steadily can take minutes before the kernel takes more from us, while
    this falls all along. A peer that stopped reading acknowledges nothing:
    it stays put."""
    sock = transport.get_extra_info("socket")
    return transport.get_write_buffer_size() + (kernel_queued(sock.fileno()) if sock is not None else 0)


class StallTimeout(TimeoutError):
    """A body or a download made no progress for ``body_timeout`` seconds."""


class HeaderTimeout(TimeoutError):
    """A request head did not arrive within ``header_timeout`` seconds."""


class ResponseStarted(RuntimeError):
    """A second response was attempted for one request."""


Handler = Callable[["Exchange"], Awaitable[None]]


class Exchange:
    """One request and its response. Implements the ``ByteSource`` (request
    body) and ``ByteSink`` (response body) ports for the domain."""

    def __init__(self, connection: HttpConnection, request: Request) -> None:
        self.connection = connection
        self.request = request
        self.head_only = request.method == "HEAD"
        self.status = 0
        self.sent = 0
        self.started = time.monotonic()
        self.body_done = not request.has_body
        self.response_started = False
        self.response_done = False
        self._expected = 0  # bytes of response body announced by Content-Length

    @property
    def origin(self) -> str:
        """``http://host[:port]`` the request was addressed to."""
        host = self.request.host
        if not host:
            sockname = self.connection.sockname
            host = f"[{sockname[0]}]:{sockname[1]}" if ":" in sockname[0] else f"{sockname[0]}:{sockname[1]}"
        return "http://" + host

    # -- request body (ByteSource) --------------------------------------------------

    async def read(self, max_bytes: int) -> bytes:
        if self.body_done:
            return b""
        connection = self.connection
        if self.request.expect_continue and not self.response_started and not connection.continue_sent:
            connection.continue_sent = True
            connection.write(CONTINUE)
        event = await connection.next_event(max_bytes, connection.config.body_timeout, StallTimeout)
        if isinstance(event, Data):
            return event.data
        if event is END_OF_MESSAGE:
            self.body_done = True
            return b""
        raise ParseError(400, "unexpected event in request body")  # pragma: no cover - parser guarantees

    # -- response ---------------------------------------------------------------------

    def _head(self, status: int, headers: Iterable[tuple[str, str]], length: int) -> bytes:
        if self.response_started:
            raise ResponseStarted("response already started")
        self.response_started = True
        self.status = status
        self._expected = 0 if self.head_only or status in (204, 304) else length
        connection = self.connection
        all_headers = list(headers)
        if status != 304 or length:
            all_headers.append(("Content-Length", str(length)))
        if not self.body_done or connection.draining:
            # Unread body bytes would be taken for the next request: close.
            connection.keep_alive = False
        if not connection.keep_alive:
            all_headers.append(("Connection", "close"))
        elif self.request.version == "1.0":
            all_headers.append(("Connection", "keep-alive"))
        return build_head(status, all_headers)

    def respond(self, status: int, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        """Send a complete response with a small in-memory body."""
        head = self._head(status, headers, len(body))
        if self.head_only or status in (204, 304):
            self.connection.write(head)
        else:
            self.connection.write(head + body)
            self.sent = len(body)
        self.response_done = True

    def respond_json(self, status: int, payload: dict[str, object],
                     headers: Iterable[tuple[str, str]] = ()) -> None:
        self.respond(status, [*JSON_HEADERS, *headers], json_bytes(payload))

    def respond_error(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.respond(status, [*JSON_HEADERS, *headers], error_body(status, message))

    def start(self, status: int, headers: Iterable[tuple[str, str]], length: int) -> None:
        """Send the head of a response whose ``length``-byte body follows
        through ``write`` / ``send_blob`` (nothing follows for HEAD)."""
        self.connection.write(self._head(status, headers, length))
        if self._expected == 0:
            self.response_done = True

    async def write(self, data: bytes) -> None:
        if self.head_only:
            return
        self._check_length(len(data))
        await self.connection.send(data, self._account)

    async def send_blob(self, reader: BlobReader, offset: int, count: int) -> None:
        if self.head_only or count == 0:
            return
        self._check_length(count)
        await self.connection.send_file(reader, offset, count, self._account)

    def _check_length(self, n: int) -> None:
        if self.sent + n > self._expected:
            raise RuntimeError("response body longer than its Content-Length")

    def _account(self, n: int) -> None:
        """Count body bytes as the connection hands them over (see ``send``
        and ``send_file``), also when a transfer is cut midway, so the access
        log shows how far it went and never claims what a vanished client
        did not get."""
        self.sent += n
        if self.sent == self._expected:
            self.response_done = True


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer, handler: Handler) -> None:
        self.server = server
        self.config = server.config
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self.parser = RequestParser(
            max_request_line=self.config.max_request_line,
            max_header_bytes=self.config.max_header_bytes,
            max_headers=self.config.max_headers,
        )
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self.sockname: tuple[str, int] = ("127.0.0.1", 0)
        self.keep_alive = True
        self.continue_sent = False
        self.draining = False
        self.idle = True  # waiting for a request with no byte of it received
        self.lost = False
        self._reading_paused = False
        self._writing_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0  # loop time at which the current wait fails; 0 when none
        self._deadline_error: type[TimeoutError] = TimeoutError
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._linger: Linger | None = None
        self._flush_watch: FlushWatch | None = None
        self.exchange: Exchange | None = None

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}" if ":" not in peer[0] else f"[{peer[0]}]:{peer[1]}"
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.sockname = (sockname[0], sockname[1])
        self.server.connection_opened(self)
        self._task = self._loop.create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            self._linger.data_received(data)
            return
        self.parser.feed(data)
        if self.parser.buffered > self.config.read_high_water and not self._reading_paused:
            self._reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        if self._linger is not None:
            return False  # the peer is done: let the transport close
        self.parser.feed_eof()
        self._wake_reader()
        return True  # keep the write side open to answer a half-closed client

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._linger is not None:
            self._linger.cancel()
        if self._flush_watch is not None:
            self._flush_watch.cancel()
        self.parser.feed_eof()
        self._wake_reader()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))
        self.server.connection_closed(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- reading ------------------------------------------------------------------------

    def _wake_reader(self) -> None:
        waiter = self._data_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- deadlines ------------------------------------------------------------------------
    # One timer per connection, re-armed lazily: a wait only records its
    # deadline, and the timer, when it fires before that deadline, sleeps on
    # to it. Keep-alive connections thus cost no timer-heap traffic per request.

    def _set_deadline(self, timeout: float, error: type[TimeoutError]) -> None:
        deadline = self._loop.time() + timeout
        self._deadline = deadline
        self._deadline_error = error
        if self._timer is None or self._timer_at > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_deadline)
            self._timer_at = deadline

    def _on_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if not deadline or self.lost:
            return
        if self._loop.time() + DEADLINE_SLACK < deadline:
            self._timer = self._loop.call_at(deadline, self._on_deadline)
            self._timer_at = deadline
            return
        self._deadline = 0.0
        for waiter in (self._data_waiter, self._drain_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._deadline_error())

    async def _wait_for_data(self, timeout: float, error: type[TimeoutError]) -> None:
        if self._reading_paused:
            self._reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        waiter = self._loop.create_future()
        self._data_waiter = waiter
        self._set_deadline(timeout, error)
        try:
            await waiter
        finally:
            self._deadline = 0.0
            self._data_waiter = None

    async def next_event(self, max_data: int, timeout: float, error: type[TimeoutError]) -> Event:
        """The parser's next event, waiting up to ``timeout`` for bytes that
        make progress (else ``error``). Raises ``ParseError``,
        ``IncompleteMessage`` and ``ConnectionError``."""
        while True:
            event = self.parser.next_event(max_data)
            if event is not NEED_DATA:
                if self._reading_paused and self.parser.buffered <= self.config.read_high_water // 2:
                    self._reading_paused = False
                    assert self.transport is not None
                    self.transport.resume_reading()
                return event
            if self.lost:
                raise IncompleteMessage("connection lost")
            await self._wait_for_data(timeout, error)

    async def _next_request(self, first: bool) -> Request | None:
        """The next request, or ``None`` when the peer went away, stayed idle
        past the keep-alive timeout, or the server is shutting down while
        this connection is idle. Raises ``HeaderTimeout`` for a head that
        arrives too slowly and ``ParseError`` for a bad one.

        Deadlines are fixed when the wait begins and re-checked after every
        wake-up, so a client trickling a byte at a time cannot extend them."""
        config = self.config
        loop = self._loop
        began = loop.time()
        head_deadline = began + config.header_timeout if first else None
        idle_deadline = began + (config.header_timeout if first else config.keepalive_timeout)
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
                    head_deadline = loop.time() + config.header_timeout
                deadline: float = head_deadline
                error: type[TimeoutError] = HeaderTimeout
            else:
                self.idle = True
                if self.draining:
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

    # -- writing ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def _check_open(self) -> None:
        # The transport is closing before ``connection_lost`` runs when a
        # write hit a reset peer; writing on would only fail less clearly.
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection lost")

    async def send(self, data: bytes, sent: Callable[[int], None]) -> None:
        """Write and wait while the peer is not keeping up (see ``_drain``).
        Reports the bytes handed over through ``sent``: all of ``data`` once
        written (what is left in the transport's buffer goes out on its
        own), or if the wait fails, those that reached the kernel."""
        self._check_open()
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if self._writing_paused:
            try:
                await self._drain()
            except BaseException:
                # The buffer is first in, first out: what is still queued is
                # the tail of ``data``. A lost transport dropped its buffer,
                # so nothing is known to have gone.
                if not (self.lost or transport.is_closing()):
                    sent(max(0, len(data) - transport.get_write_buffer_size()))
                raise
        sent(len(data))

    async def _drain(self) -> None:
        """Wait until the transport's buffer is back under its low-water
        mark. The stall timeout measures a lack of progress, not the wait:
        every ``body_timeout`` the bytes the peer has not taken (``unsent``)
        are looked at again, and only if not one was taken since the last
        look does this raise ``StallTimeout`` (so between one and two
        ``body_timeout`` after the last progress). Raises
        ``ConnectionResetError`` if the connection is lost."""
        transport = self.transport
        assert transport is not None
        left = unsent(transport)
        while self._writing_paused:
            self._check_open()
            waiter = self._loop.create_future()
            self._drain_waiter = waiter
            self._set_deadline(self.config.body_timeout, StallTimeout)
            try:
                await waiter
            except StallTimeout:
                if unsent(transport) >= left:
                    raise
                left = unsent(transport)
            finally:
                self._deadline = 0.0
                self._drain_waiter = None

    async def _drain_before_next_request(self) -> None:
        """Answers are written without waiting (``Exchange.respond``), so a
        client that pipelines requests and never reads would make the
        transport buffer answers without end. Before the next request, while
        the buffer is above its high-water mark, stop reading and wait for
        it to drain (``_drain``); reading resumes when the next request
        needs bytes."""
        assert self.transport is not None
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        await self._drain()

    async def send_file(self, reader: BlobReader, offset: int, count: int, sent: Callable[[int], None]) -> None:
        """Send ``count`` bytes of the blob from ``offset``: zero-copy with
        ``os.sendfile`` when the reader has a descriptor, else by reading.
        ``sent(n)`` is called for every ``n`` bytes handed to the kernel, so
        a transfer cut midway is counted as far as it went.

        The stall timeout measures a lack of progress, however long the
        whole transfer takes: ``StallTimeout`` once ``body_timeout`` passes
        without a successful write and without the kernel's send queue
        falling (``unsent``: its buffer may hold seconds of a slow reader's
        data), looked at every ``body_timeout``. ``loop.sendfile`` cannot
        do this (a cancelled call does not tell how far it got, so only a
        timeout around a whole call was possible, which cut off steady slow
        readers), so this loop drives ``os.sendfile`` on the non-blocking
        socket itself: after the transport's buffer (the response head) has
        gone, one call per writable event, each sending what the socket
        buffer takes. The event loop refuses to watch a descriptor a
        transport owns, so it watches a duplicate of the socket's."""
        fd = reader.fileno()
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if fd is None or sock is None:
            await self._send_by_reading(reader, offset, count, sent)
            return
        await self._flush()
        self._check_open()
        loop = self._loop
        out = os.dup(sock.fileno())
        try:
            last_progress = loop.time()
            queued = kernel_queued(out)
            while count > 0:
                try:
                    n = os.sendfile(out, fd, offset, count)
                except BlockingIOError:
                    n = -1
                if n == 0:
                    # The file shrank under us: the promised length cannot be
                    # sent, so the caller must abort rather than leave the
                    # client waiting for bytes that will never come.
                    raise OSError(f"blob ended at byte {offset}, {count} bytes short of its size")
                if n > 0:
                    offset += n
                    count -= n
                    sent(n)
                    last_progress = loop.time()
                    queued = kernel_queued(out)
                if count > 0:
                    try:
                        await self._writable(out, last_progress + self.config.body_timeout)
                    except StallTimeout:
                        if kernel_queued(out) >= queued:
                            raise
                        last_progress = loop.time()  # the peer is still taking what the kernel holds
                        queued = kernel_queued(out)
        finally:
            os.close(out)

    async def _flush(self) -> None:
        """Wait until the transport has handed all it holds to the kernel,
        so that bytes sent around it cannot overtake them. A high-water mark
        of 0 makes the transport pause our writing while anything is queued
        and resume it once nothing is; ``_drain`` times the wait."""
        transport = self.transport
        assert transport is not None
        if not transport.get_write_buffer_size():
            return
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0)
        try:
            await self._drain()
        finally:
            transport.set_write_buffer_limits(high=high, low=low)

    async def _writable(self, fd: int, deadline: float) -> None:
        """Wait until ``fd`` can take more bytes; ``StallTimeout`` at loop
        time ``deadline``, ``ConnectionResetError`` if the connection is lost
        (both through the drain waiter)."""
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        self._loop.add_writer(fd, _wake, waiter)
        self._set_deadline(deadline - self._loop.time(), StallTimeout)
        try:
            await waiter
        finally:
            self._loop.remove_writer(fd)
            self._deadline = 0.0
            self._drain_waiter = None

    async def _send_by_reading(self, reader: BlobReader, offset: int, count: int,
                               sent: Callable[[int], None]) -> None:
        end = offset + count
        while offset < end:
            data = await reader.read_at(offset, min(1 << 20, end - offset))
            if not data:
                raise OSError("blob is shorter than its recorded size")
            await self.send(data, sent)
            offset += len(data)

    def close(self) -> None:
        """Close after the bytes still queued are written; abort if they
        stop moving (``FlushWatch``)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
            if transport.get_write_buffer_size() and not self.lost:
                self._flush_watch = FlushWatch(self._loop, transport, self.config.body_timeout)

    def linger(self) -> None:
        """Shut down writing after the response and discard what the peer
        still sends before closing (see the module docstring)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.lost or self._linger is not None:
            return
        self._linger = Linger(self._loop, transport)
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def begin_shutdown(self) -> None:
        """Stop after the current exchange; close at once when idle."""
        self.draining = True
        self.keep_alive = False
        if self.idle:
            waiter = self._data_waiter
            if waiter is not None and not waiter.done():
                # An exception, not a result: ``next_event`` would take a
                # result for "more bytes" and go back to waiting out the
                # keep-alive timeout; ``_next_request`` ends on TimeoutError.
                waiter.set_exception(TimeoutError())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    # -- the exchange loop ------------------------------------------------------------

    async def _serve(self) -> None:
        first = True
        peer_may_send = False  # bytes of a refused head or an unread body may still come
        try:
            while self.keep_alive:
                try:
                    request = await self._next_request(first)
                except HeaderTimeout:
                    self._refuse(408, "request header timeout")
                    peer_may_send = True
                    break
                except ParseError as exc:
                    self._refuse(exc.status, exc.message)
                    peer_may_send = True
                    break
                if request is None:
                    break
                first = False
                self.keep_alive = request.keep_alive and not self.draining
                self.continue_sent = False
                exchange = Exchange(self, request)
                self.exchange = exchange
                try:
                    await self._run(exchange)
                finally:
                    self.exchange = None
                    self._log(exchange)
                if not exchange.body_done:
                    peer_may_send = True
                if not exchange.response_done or not exchange.body_done:
                    self.keep_alive = False
                if self.keep_alive and self._writing_paused:
                    await self._drain_before_next_request()
            if peer_may_send or self.parser.buffered:
                self.linger()
        except (ConnectionError, StallTimeout):
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception:  # pragma: no cover - a bug in the loop itself
            log.exception("connection %s failed", self.peer)
            self.abort()
        finally:
            if self._linger is None:
                self.close()

    async def _run(self, exchange: Exchange) -> None:
        try:
            await self._handler(exchange)
        except ParseError as exc:
            self._fail(exchange, exc.status, exc.message)
        except StallTimeout:
            if exchange.response_started:
                raise  # a download the peer stopped reading: abort
            self._fail(exchange, 408, "request body timeout")
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("error handling %s %s from %s", exchange.request.method, exchange.request.target, self.peer)
            self._fail(exchange, 500, "internal server error")
        if not exchange.response_started:
            log.error("handler sent no response to %s %s", exchange.request.method, exchange.request.target)
            self._fail(exchange, 500, "internal server error")

    def _fail(self, exchange: Exchange, status: int, message: str) -> None:
        self.keep_alive = False
        if not exchange.response_started:
            exchange.respond_error(status, message)
        else:
            self.abort()  # the framing of a started response cannot be repaired

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request we could not parse, then close."""
        self.keep_alive = False
        self.write(build_head(status, [
            *JSON_HEADERS,
            ("Content-Length", str(len(error_body(status, message)))),
            ("Connection", "close"),
        ]) + error_body(status, message))
        self.server.access_log.write(f'{self.peer} "-" {status} 0 - {message}')

    def _log(self, exchange: Exchange) -> None:
        access_log = self.server.access_log
        if access_log.enabled:
            request = exchange.request
            access_log.request(self.peer, request.method, request.target, request.version,
                               exchange.status, exchange.sent, time.monotonic() - exchange.started)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
