"""Listening socket, connection registry, connection caps (in all and per
client address) and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

from adapters.http.access_log import AccessLog
from adapters.http.admission import ConnectionCounts, busy_refusal
from adapters.http.clients import ClientResolver
from adapters.http.connection import HttpConnection, RequestMeter, TransportConfig
from adapters.http.exchange import Handler
from adapters.http.linger import Linger
from adapters.http.request_id import RequestIds

log = logging.getLogger("uds.http")


class _Refuse(asyncio.Protocol):
    """Answers 503 to a connection above ``max_connections``, then lingers
    like every other refusal (see ``Linger``): the client is likely sending
    its request already, and closing with those bytes unread would reset
    the connection and could destroy the 503. A lingering refusal is not
    counted against ``max_connections``; ``LINGER_MAX`` bounds it."""

    def __init__(self, request_id: str = "") -> None:
        self._linger: Linger | None = None
        self._request_id = request_id

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(busy_refusal("too many connections, retry later", self._request_id))
        self._linger = Linger(asyncio.get_running_loop(), transport)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            self._linger.data_received(data)

    def eof_received(self) -> bool:
        return False  # the client is done: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()


class NoMeter:
    """Requests nobody counts."""

    def request(self, route: str | None, method: str, status: int, seconds: float, received: int,
                sent: int) -> None:
        pass

    def refused(self, status: int) -> None:
        pass


class HttpServer:
    def __init__(self, new_session: Callable[[], Handler], config: TransportConfig,
                 access_log: AccessLog | None = None, clients: ClientResolver | None = None,
                 metrics: RequestMeter | None = None) -> None:
        """``new_session`` is called once per connection for the handler of its
        requests (which may keep per-connection state, such as speed limits);
        ``clients`` tells who a connection's requests come from; ``metrics``
        counts every request that ends."""
        self.config = config
        self.metrics = metrics or NoMeter()
        self.access_log = access_log or AccessLog()
        self.clients = clients or ClientResolver()
        self.request_ids = RequestIds()  # made per process: a worker builds its server after the fork
        self._new_session = new_session
        self._connections: set[HttpConnection] = set()
        # The cap per address counts socket peers; trusted proxies are
        # exempt (see adapters/http/admission.py).
        self._per_client = ConnectionCounts(config.max_connections_per_ip) if config.max_connections_per_ip else None
        self._capped: set[HttpConnection] = set()  # the connections ``_per_client`` counts
        self._server: asyncio.base_events.Server | None = None
        self._all_closed: asyncio.Event | None = None
        self.refused = 0

    @property
    def connections(self) -> int:
        return len(self._connections)

    def _protocol(self) -> asyncio.Protocol:
        if len(self._connections) >= self.config.max_connections:
            self.refused += 1
            return _Refuse(self.request_ids.new())
        return HttpConnection(self, self._new_session())

    def protocol_factory(self) -> asyncio.Protocol:
        """A protocol for one new connection (what ``start`` hands asyncio;
        in-process tests call it with a transport of their own)."""
        return self._protocol()

    def connection_opened(self, connection: HttpConnection) -> bool:
        client = connection.client
        if self._per_client is not None and not client.proxy:
            if not self._per_client.admit(client.key):
                self.refused += 1
                return False
            self._capped.add(connection)
        self._connections.add(connection)
        return True

    def connection_closed(self, connection: HttpConnection) -> None:
        if connection not in self._connections:
            return  # refused: never counted
        self._connections.discard(connection)
        if connection in self._capped:
            self._capped.discard(connection)
            assert self._per_client is not None
            self._per_client.release(connection.client.key)
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
