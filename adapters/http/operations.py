"""The operators' endpoints: ``GET /healthz`` and ``GET /metrics``.

On the main port they are two routes of the route table, answered here.
With ``--metrics-listen`` both are also served on a port of their own
(``handle``: nothing else is, there), and the main port answers 404 for
``/metrics``: operators keep that port private, while the main one may face
the internet. Every worker serves that port too, and whichever answers a
scrape shows the whole service's numbers (``adapters/metrics/``).
"""

from __future__ import annotations

from typing import Awaitable, Callable

from adapters.http.errors import domain_error_headers, domain_error_payload
from adapters.http.exchange import Exchange
from adapters.http.routing import Router
from adapters.metrics.exposition import CONTENT_TYPE
from domain.errors import DomainError

OWN_ROUTES = ("health", "metrics")  # the routes the operations port serves


class Operations:
    def __init__(self, health: Callable[[], Awaitable[str | None]] | None = None,
                 metrics: Callable[[], Awaitable[bytes]] | None = None) -> None:
        """``health``: the storage's problem, ``None`` when it could take an
        upload now (no check: always healthy). ``metrics``: the exposition,
        or ``None`` where ``/metrics`` is not served (404)."""
        self._health = health
        self._metrics = metrics

    async def answer(self, route: str, exchange: Exchange) -> None:
        """Answer a request for ``route`` (one of ``OWN_ROUTES``)."""
        if route == "metrics":
            await self.metrics(exchange)
        else:
            await self.health(exchange)

    async def health(self, exchange: Exchange) -> None:
        """200 when the store could take an upload now; 503 with the reason
        (not writable, below the free-space floor) otherwise."""
        problem = await self._health() if self._health is not None else None
        if problem is None:
            exchange.respond_json(200, {"status": 200, "message": "ok"})
        else:
            exchange.respond_error(503, problem, [("Retry-After", "30")])

    async def metrics(self, exchange: Exchange) -> None:
        if self._metrics is None:
            exchange.respond_error(404, "no such endpoint")
            return
        body = await self._metrics()
        exchange.respond(200, [("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")], body)


class OperationsPort:
    """The handler of the ``--metrics-listen`` port: the operations routes
    of ``router`` (the service's route table, whose paths they keep), 404
    for every other path."""

    def __init__(self, router: Router, operations: Operations) -> None:
        self._paths = {router.url(name, ""): name for name in OWN_ROUTES}  # routes without parameters
        self._methods = {method for route in router.routes if route.name in OWN_ROUTES for method in route.methods}
        self._operations = operations

    def session(self) -> Callable[[Exchange], Awaitable[None]]:
        """The handler of one new connection (nothing is kept per connection)."""
        return self.handle

    async def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        name = self._paths.get(request.path)
        if name is None:
            exchange.respond_error(404, "no such endpoint")
            return
        if request.method not in self._methods:
            exchange.respond_error(405, f"method {request.method} is not allowed here",
                                   [("Allow", ", ".join(sorted(self._methods)))])
            return
        exchange.route = name
        try:
            await self._operations.answer(name, exchange)
        except DomainError as exc:
            status, payload = domain_error_payload(exc)
            exchange.respond_json(status, payload, domain_error_headers(exc))
