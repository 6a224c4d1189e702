"""Where each metric lives in a ``SharedTable`` region: fixed slots for
every label set, so that all worker processes agree on them without talking
to each other.

Requests are counted per route x method x status: the route names of the
route table (plus ``none`` for a request no route matched, and ``other``),
the methods the service answers (plus ``other``) and every status code
``http.HTTPStatus`` knows from 200 to 599 (plus ``other``). Durations go to
a histogram per route with fixed buckets. The slots of one request are a
few list look-ups away, so recording one allocates nothing.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Sequence

from ports.metrics import DIRECTIONS, LIMITS

NO_ROUTE = "none"  # the route label of a request no route matched (404, 405, refusals before routing)
OTHER = "other"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
STATUSES = tuple(sorted({int(s) for s in HTTPStatus if 200 <= s < 600}))
# Upper bounds (seconds) of the duration buckets; +Inf is the last bucket.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Plain counters and gauges: one integer slot each.
COUNTERS = ("received_bytes", "sent_bytes", "uploads_stored", "downloads_completed", "files_deleted",
            "files_expired")
GAUGES = ("active_uploads", "active_downloads")
MAX_STATUS = 1000


class Layout:
    """Integer slots: requests, then histogram buckets (not cumulative: one
    increment per request; the exposition adds them up), then counters and
    gauges. Float slots: each route's sum of durations, then the seconds
    spent waiting per kind of speed limit (``LIMITS`` x ``DIRECTIONS``)."""

    def __init__(self, routes: Sequence[str]) -> None:
        self.routes = (*routes, NO_ROUTE, OTHER)
        self.methods = (*METHODS, OTHER)
        self.statuses: tuple[int | str, ...] = (*STATUSES, OTHER)
        self.waits = tuple((limit, direction) for limit in LIMITS for direction in DIRECTIONS)
        per_route = len(self.methods) * len(self.statuses)
        self.request_slots = len(self.routes) * per_route
        self.bucket_base = self.request_slots
        self.counter_base = self.bucket_base + len(self.routes) * (len(BUCKETS) + 1)
        self.gauge_base = self.counter_base + len(COUNTERS)
        self.ints = self.gauge_base + len(GAUGES)
        self.wait_base = len(self.routes)
        self.floats = self.wait_base + len(self.waits)
        # Look-ups of the hot path.
        self.route_index: dict[str | None, int] = {name: i for i, name in enumerate(self.routes)}
        self.route_index[None] = self.routes.index(NO_ROUTE)
        self.method_offset = {method: i * len(self.statuses) for i, method in enumerate(METHODS)}
        self.other_method = len(METHODS) * len(self.statuses)
        other_status = len(STATUSES)
        self.status_offset = [other_status] * MAX_STATUS
        for i, status in enumerate(STATUSES):
            self.status_offset[status] = i
        self.route_requests = [i * per_route for i in range(len(self.routes))]
        self.route_buckets = [self.bucket_base + i * (len(BUCKETS) + 1) for i in range(len(self.routes))]

    def counter(self, name: str) -> int:
        return self.counter_base + COUNTERS.index(name)

    def gauge(self, name: str) -> int:
        return self.gauge_base + GAUGES.index(name)

    def wait(self, limit: str, direction: str) -> int:
        return self.wait_base + self.waits.index((limit, direction))

    def request_slot(self, route: int, method: int, status: int) -> int:
        """The slot of (route, method, status), by their indexes in
        ``routes``, ``methods`` and ``statuses``."""
        return self.route_requests[route] + method * len(self.statuses) + status
