"""One worker's writer of the metrics: its own region of the shared table.

``request`` is called once for every request that finishes (from the HTTP
connection, where the access log line is written too); the events of
``ports/metrics.py`` come from the services; the wait meters from the
token buckets. Each is a few list and dict look-ups and one to five slot
updates: no lock (the region is this process's alone), no allocation.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable

from adapters.metrics.layout import BUCKETS, GAUGES, MAX_STATUS, OTHER, Layout


class Recorder:
    def __init__(self, layout: Layout, ints: memoryview[int], floats: memoryview[float]) -> None:
        """``ints``, ``floats``: this worker's region (``SharedTable.region``)."""
        self._layout = layout
        self._ints = ints
        self._floats = floats
        self._route_index = layout.route_index
        self._other_route = layout.routes.index(OTHER)
        self._route_requests = layout.route_requests
        self._route_buckets = layout.route_buckets
        self._method_offset = layout.method_offset
        self._other_method = layout.other_method
        self._status_offset = layout.status_offset
        self._other_status = layout.statuses.index(OTHER)
        self._received = layout.counter("received_bytes")
        self._sent = layout.counter("sent_bytes")
        self._stored = layout.counter("uploads_stored")
        self._downloaded = layout.counter("downloads_completed")
        self._deleted = layout.counter("files_deleted")
        self._expired = layout.counter("files_expired")
        self._uploads = layout.gauge("active_uploads")
        self._downloads = layout.gauge("active_downloads")

    def reset_gauges(self) -> None:
        """Zero this region's gauges: what a worker does when it starts, since
        the transfers a worker it replaces had in progress died with it (its
        counters stay: they are the service's history, and go on from there)."""
        for name in GAUGES:
            self._ints[self._layout.gauge(name)] = 0

    # -- HTTP requests ------------------------------------------------------------------

    def request(self, route: str | None, method: str, status: int, seconds: float, received: int,
                sent: int) -> None:
        """One finished request: ``route`` the route table's name (``None``:
        no route matched), the response ``status``, its duration, and the
        body bytes received and sent."""
        ints = self._ints
        index = self._route_index.get(route, self._other_route)
        ints[self._route_requests[index] + self._method_offset.get(method, self._other_method)
             + (self._status_offset[status] if 0 <= status < MAX_STATUS else self._other_status)] += 1
        ints[self._route_buckets[index] + bisect_left(BUCKETS, seconds)] += 1
        self._floats[index] += seconds
        if received:
            ints[self._received] += received
        if sent:
            ints[self._sent] += sent

    def refused(self, status: int) -> None:
        """A request refused before it could be read (a malformed head, a
        header timeout): counted with no route and method ``other``, in no
        duration histogram."""
        self._ints[self._route_requests[self._route_index[None]] + self._other_method
                   + (self._status_offset[status] if 0 <= status < MAX_STATUS else self._other_status)] += 1

    # -- ServiceEvents ------------------------------------------------------------------

    def upload_started(self) -> None:
        self._ints[self._uploads] += 1

    def upload_ended(self) -> None:
        self._ints[self._uploads] -= 1

    def upload_stored(self) -> None:
        self._ints[self._stored] += 1

    def download_started(self) -> None:
        self._ints[self._downloads] += 1

    def download_ended(self, complete: bool) -> None:
        self._ints[self._downloads] -= 1
        if complete:
            self._ints[self._downloaded] += 1

    def file_deleted(self) -> None:
        self._ints[self._deleted] += 1

    def files_expired(self, count: int) -> None:
        self._ints[self._expired] += count

    # -- WaitMeters ---------------------------------------------------------------------

    def meter(self, limit: str, direction: str) -> Callable[[float], None]:
        floats = self._floats
        slot = self._layout.wait(limit, direction)

        def waited(seconds: float) -> None:
            floats[slot] += seconds
        return waited
