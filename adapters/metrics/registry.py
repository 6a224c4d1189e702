"""The service's metrics: a shared table with one region per worker, the
layout of its slots, each worker's recorder and the exposition.

Made once, in the process that forks the workers (before ``fork``), with as
many regions as workers; worker ``i`` records in region ``i`` through
``recorder(i)``. A worker that dies is replaced under the same index: the
new one takes over its region, counters and all, so the totals neither
drop nor double; only the gauges restart at zero (the dead worker's
transfers died with it).
"""

from __future__ import annotations

from typing import Sequence

from adapters.metrics.exposition import Stored, render
from adapters.metrics.layout import Layout
from adapters.metrics.recorder import Recorder
from adapters.metrics.table import SharedTable


class Metrics:
    def __init__(self, workers: int, routes: Sequence[str]) -> None:
        """``routes``: the route table's names (the ``route`` label's values)."""
        self.workers = workers
        self.layout = Layout(routes)
        self.table = SharedTable(workers, self.layout.ints, self.layout.floats)

    def recorder(self, worker: int) -> Recorder:
        """The recorder of worker ``worker`` (0-based): its region, gauges
        reset (call it once, when the worker starts)."""
        ints, floats = self.table.region(worker)
        recorder = Recorder(self.layout, ints, floats)
        recorder.reset_gauges()
        return recorder

    def exposition(self, stored: Stored, worker: int = 0) -> bytes:
        """The whole service's metrics, in the text format (UTF-8), as worker
        ``worker`` answers them."""
        ints, floats = self.table.sums()
        return render(self.layout, ints, floats, stored, self.workers, worker).encode("utf-8")


class WorkerMetrics:
    """What one worker process needs: the recorder of its own region, and
    the whole service's exposition (every region summed)."""

    def __init__(self, service: Metrics, worker: int) -> None:
        self.service = service
        self.worker = worker
        self.recorder = service.recorder(worker)

    def exposition(self, stored: Stored) -> bytes:
        return self.service.exposition(stored, self.worker)
