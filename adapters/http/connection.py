"""The thin asyncio layer: one ``HttpConnection`` protocol per TCP connection.

It moves bytes between the socket and the sans-I/O parts (the request parser
and the server's framing rules in ``framing.py``) and runs one ``Exchange``
at a time through the application handler, in request order, so pipelined
requests are answered in order. Its parts, one job each: ``Receiver``
(reading, read backpressure, head and keep-alive timeouts), ``Sender``
(writing, write backpressure, zero-copy sends, the stall timeout on
responses), ``Deadline`` (the one timer), ``Linger`` and ``FlushWatch``
(closing without destroying the last answer or waiting forever). Its owner
(the server, or a test) is reached through the narrow ``ConnectionOwner``.

Answers are written without waiting, so before the next pipelined request
the connection stops reading and waits for them to drain: a client that
pipelines and never reads cannot make the server buffer without end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from adapters.http.access_log import AccessLog
from adapters.http.admission import busy_refusal
from adapters.http.clients import Client, ClientResolver
from adapters.http.deadlines import Deadline, HeaderTimeout, StallTimeout
from adapters.http.exchange import Exchange, Handler
from adapters.http.framing import ServerFraming
from adapters.http.linger import FlushWatch, Linger
from adapters.http.events import Event, ParseError
from adapters.http.parser import RequestParser
from adapters.http.receiver import Receiver
from adapters.http.request_id import CURRENT as CURRENT_REQUEST_ID
from adapters.http.request_id import RequestIds
from adapters.http.sender import Sender, Sent
from ports.storage import BlobReader

log = logging.getLogger("uds.http")


@dataclass(frozen=True)
class TransportConfig:
    """Timeouts in seconds, sizes in bytes."""

    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    body_timeout: float = 60.0
    max_connections: int = 1024
    max_connections_per_ip: int = 0  # 0: no cap per client address
    shutdown_timeout: float = 30.0
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    read_high_water: int = 256 * 1024


class RequestMeter(Protocol):
    """Where finished requests are counted (``adapters/metrics/recorder.py``)."""

    def request(self, route: str | None, method: str, status: int, seconds: float, received: int,
                sent: int) -> None: ...

    def refused(self, status: int) -> None: ...


class ConnectionOwner(Protocol):
    """What a connection needs of whoever accepted it."""

    @property
    def metrics(self) -> RequestMeter: ...

    @property
    def config(self) -> TransportConfig: ...

    @property
    def access_log(self) -> AccessLog: ...

    @property
    def clients(self) -> ClientResolver: ...

    @property
    def request_ids(self) -> RequestIds: ...

    def connection_opened(self, connection: HttpConnection) -> bool:
        """Register a new connection; False to refuse it (503)."""

    def connection_closed(self, connection: HttpConnection) -> None: ...


class HttpConnection(asyncio.Protocol):
    def __init__(self, owner: ConnectionOwner, handler: Handler) -> None:
        self._owner = owner
        self.config = owner.config
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self.framing = ServerFraming()
        self._deadline = Deadline(self._loop)
        self.transport: asyncio.Transport | None = None
        self._sender: Sender | None = None
        self.peer = "-"
        self.client = Client("-", "-")  # the socket peer's, until connection_made
        self.sockname: tuple[str, int] = ("127.0.0.1", 0)
        self.lost = False
        self._receiver: Receiver | None = None
        self._task: asyncio.Task[None] | None = None
        self._linger: Linger | None = None
        self._flush_watch: FlushWatch | None = None
        self.exchange: Exchange | None = None

    @property
    def stall_timeout(self) -> float:
        return self.config.body_timeout

    @property
    def sender(self) -> Sender:
        assert self._sender is not None, "no transport yet"
        return self._sender

    @property
    def receiver(self) -> Receiver:
        assert self._receiver is not None, "no transport yet"
        return self._receiver

    @property
    def idle(self) -> bool:
        """Waiting for a request with no byte of it received."""
        return self._receiver is None or self._receiver.idle

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}" if ":" not in peer[0] else f"[{peer[0]}]:{peer[1]}"
            self.client = self._owner.clients.peer(peer[0])
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.sockname = (sockname[0], sockname[1])
        if not self._owner.connection_opened(self):
            # Refused (too many connections from this address): answer, then
            # linger as every refusal does (see ``Linger``).
            request_id = self._owner.request_ids.new()
            transport.write(busy_refusal("too many connections from your address, retry later", request_id))
            self._linger = Linger(self._loop, transport)
            self._owner.access_log.refusal(self.peer, 503, "too many connections from one address", request_id)
            return
        self._sender = Sender(self._loop, transport, self._deadline, self.config.body_timeout)
        parser = RequestParser(
            max_request_line=self.config.max_request_line,
            max_header_bytes=self.config.max_header_bytes,
            max_headers=self.config.max_headers,
        )
        self._receiver = Receiver(self._loop, transport, parser, self._deadline, self.config.read_high_water)
        self._task = self._loop.create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            self._linger.data_received(data)
            return
        self.receiver.data_received(data)

    def eof_received(self) -> bool:
        if self._linger is not None:
            return False  # the peer is done: let the transport close
        self.receiver.eof_received()
        return True  # keep the write side open to answer a half-closed client

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._deadline.cancel()
        if self._linger is not None:
            self._linger.cancel()
        if self._flush_watch is not None:
            self._flush_watch.cancel()
        if self._receiver is not None:
            self._receiver.connection_lost()
        if self._sender is not None:
            self._sender.connection_lost()
        self._owner.connection_closed(self)

    def pause_writing(self) -> None:
        self.sender.pause_writing()

    def resume_writing(self) -> None:
        self.sender.resume_writing()

    async def next_event(self, max_data: int, timeout: float, error: type[TimeoutError]) -> Event:
        return await self.receiver.next_event(max_data, timeout, error)

    # -- writing (the Channel of exchanges) ----------------------------------------------

    def write(self, data: bytes) -> None:
        if self._sender is not None:
            self._sender.write(data)

    async def send(self, data: bytes, sent: Sent) -> None:
        await self.sender.send(data, sent)

    async def send_file(self, reader: BlobReader, offset: int, count: int, sent: Sent) -> None:
        await self.sender.send_file(reader, offset, count, sent)

    async def _drain_before_next_request(self) -> None:
        """Answers are written without waiting (``Exchange.respond``), so a
        client that pipelines requests and never reads would make the
        transport buffer answers without end. Before the next request, while
        the buffer is above its high-water mark, stop reading and wait for
        it to drain (``Sender.drain``); reading resumes when the next request
        needs bytes."""
        if not self.receiver.paused:
            self.receiver.pause()
        await self.sender.drain()

    # -- closing --------------------------------------------------------------------------

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
        still sends before closing (see ``Linger``)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.lost or self._linger is not None:
            return
        self._linger = Linger(self._loop, transport)
        if self.receiver.paused:
            self.receiver.resume()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def begin_shutdown(self) -> None:
        """Stop after the current exchange; close at once when idle."""
        self.framing.shut_down()
        if self._receiver is not None:
            self._receiver.interrupt_idle_wait()

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
        framing = self.framing
        try:
            while framing.keep_alive:
                try:
                    request = await self.receiver.next_request(
                        first, self.config.header_timeout, self.config.keepalive_timeout, lambda: framing.draining)
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
                framing.begin(request)
                request_id = self._owner.request_ids.choose(request.headers.get("x-request-id"))
                exchange = Exchange(self, request, self._owner.clients.resolve(self.client, request.headers),
                                    request_id)
                self.exchange = exchange
                # Log records made while the request is handled carry its id.
                current = CURRENT_REQUEST_ID.set(request_id)
                try:
                    await self._run(exchange)
                finally:
                    self.exchange = None
                    self._finished(exchange)
                    CURRENT_REQUEST_ID.reset(current)
                if not exchange.body_done:
                    peer_may_send = True
                if framing.end(exchange.body_done, exchange.response_done) and self.sender.paused:
                    await self._drain_before_next_request()
            if peer_may_send or self.receiver.parser.buffered:
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
        self.framing.keep_alive = False
        if not exchange.response_started:
            exchange.respond_error(status, message)
        else:
            self.abort()  # the framing of a started response cannot be repaired

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request we could not parse, then close."""
        request_id = self._owner.request_ids.new()
        self.write(self.framing.refusal(status, message, request_id))
        self._owner.metrics.refused(status)
        self._owner.access_log.refusal(self.peer, status, message, request_id)

    def _finished(self, exchange: Exchange) -> None:
        """The one place every request that was read ends: counted, then logged."""
        seconds = time.monotonic() - exchange.started
        request = exchange.request
        self._owner.metrics.request(exchange.route, request.method, exchange.status, seconds, exchange.received,
                                    exchange.sent)
        access_log = self._owner.access_log
        if access_log.enabled:
            client = exchange.client
            # A client a trusted proxy named is logged by its address, and the proxy after "via".
            access_log.request(client.address if client.forwarded else self.peer, request.method, request.target,
                               request.version, exchange.status, exchange.sent, seconds,
                               self.peer if client.forwarded else "", exchange.request_id, exchange.received,
                               request.headers.get("user-agent"))
