"""Listening socket, connection registry, connection cap and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

from adapters.http.access_log import AccessLog
from adapters.http.connection import HttpConnection, TransportConfig
from adapters.http.exchange import Handler
from adapters.http.errors import error_body
from adapters.http.linger import Linger
from adapters.http.response import JSON_HEADERS, build_head

log = logging.getLogger("uds.http")

RETRY_AFTER_SECONDS = 1


class _Refuse(asyncio.Protocol):
    """Answers 503 to a connection above ``max_connections``, then lingers
    like every other refusal (see ``Linger``): the client is likely sending
    its request already, and closing with those bytes unread would reset
    the connection and could destroy the 503. A lingering refusal is not
    counted against ``max_connections``; ``LINGER_MAX`` bounds it."""

    def __init__(self) -> None:
        self._linger: Linger | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        body = error_body(503, "too many connections, retry later")
        transport.write(build_head(503, [
            *JSON_HEADERS,
            ("Content-Length", str(len(body))),
            ("Retry-After", str(RETRY_AFTER_SECONDS)),
            ("Connection", "close"),
        ]) + body)
        self._linger = Linger(asyncio.get_running_loop(), transport)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            self._linger.data_received(data)

    def eof_received(self) -> bool:
        return False  # the client is done: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()


class HttpServer:
    def __init__(self, new_session: Callable[[], Handler], config: TransportConfig,
                 access_log: AccessLog | None = None) -> None:
        """``new_session`` is called once per connection for the handler of its
        requests (which may keep per-connection state, such as speed limits)."""
        self.config = config
        self.access_log = access_log or AccessLog()
        self._new_session = new_session
        self._connections: set[HttpConnection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._all_closed: asyncio.Event | None = None
        self.refused = 0

    @property
    def connections(self) -> int:
        return len(self._connections)

    def _protocol(self) -> asyncio.Protocol:
        if len(self._connections) >= self.config.max_connections:
            self.refused += 1
            return _Refuse()
        return HttpConnection(self, self._new_session())

    def protocol_factory(self) -> asyncio.Protocol:
        """A protocol for one new connection (what ``start`` hands asyncio;
        in-process tests call it with a transport of their own)."""
        return self._protocol()

    def connection_opened(self, connection: HttpConnection) -> None:
        self._connections.add(connection)

    def connection_closed(self, connection: HttpConnection) -> None:
        self._connections.discard(connection)
        if not self._connections and self._all_closed is not None:
            self._all_closed.set()

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound and listening socket."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=sock, backlog=1024)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        if self._server is None:
            return []
        return [s.getsockname()[:2] for s in self._server.sockets]

    async def shutdown(self) -> None:
        """Stop accepting; let in-flight exchanges finish for up to
        ``shutdown_timeout`` seconds (idle connections close at once); then
        cancel what is left, which aborts unfinished uploads."""
        if self._server is not None:
            self._server.close()
        self._all_closed = asyncio.Event()
        if not self._connections:
            self._all_closed.set()
        busy = sum(1 for c in self._connections if not c.idle)
        log.info("shutting down: %d connection(s), %d busy; waiting up to %.0fs",
                 len(self._connections), busy, self.config.shutdown_timeout)
        for connection in list(self._connections):
            connection.begin_shutdown()
        try:
            await asyncio.wait_for(self._all_closed.wait(), self.config.shutdown_timeout)
        except TimeoutError:
            left = list(self._connections)
            log.warning("shutdown timeout: aborting %d connection(s)", len(left))
            tasks = [c.task for c in left if c.task is not None]
            for connection in left:
                connection.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)
            for connection in left:
                connection.abort()
        if self._server is not None:
            await self._server.wait_closed()
        self.access_log.flush()
