"""A table of counters in shared memory, one region per worker process.

The parent makes it before ``fork`` (an anonymous ``MAP_SHARED`` mapping,
which the children inherit), so every worker sees every region. Each region
is written by one process only, its worker, with plain aligned 8-byte
stores: no lock on the hot path, and no update is ever lost to a race (two
writers never share a slot). Any process may read all regions and add them
up; a read concurrent with a write sees the slot before or after it (8-byte
aligned stores are single instructions on x86-64 and arm64), so a sum may
lag a request behind, never be torn.

A region holds ``ints`` 64-bit signed integers (counts, bytes) and then
``floats`` 64-bit floats (seconds). Its layout is decided by the caller
(``adapters/metrics/layout.py``) and must be the same in every process,
which it is: the children are forks of the parent that made the table.
"""

from __future__ import annotations

import mmap
from operator import add


class SharedTable:
    def __init__(self, regions: int, ints: int, floats: int) -> None:
        if regions < 1 or ints < 0 or floats < 0:
            raise ValueError("a table has at least one region and no negative sizes")
        self.regions = regions
        self.ints = ints
        self.floats = floats
        stride = 8 * (ints + floats)
        # mmap(-1, n) is MAP_SHARED | MAP_ANONYMOUS, zero-filled; the views
        # keep it mapped for the life of the process (it is never closed).
        self._map = mmap.mmap(-1, max(mmap.PAGESIZE, regions * stride))
        whole = memoryview(self._map)
        starts = [i * stride for i in range(regions)]
        self._int_views: list[memoryview[int]] = [whole[at:at + 8 * ints].cast("q") for at in starts]
        self._float_views: list[memoryview[float]] = [whole[at + 8 * ints:at + stride].cast("d") for at in starts]

    def region(self, index: int) -> tuple[memoryview[int], memoryview[float]]:
        """Region ``index``'s integer and float slots, as writable views
        (``view[slot] += n``). Only its one worker may write them."""
        return self._int_views[index], self._float_views[index]

    def sums(self) -> tuple[list[int], list[float]]:
        """Every slot added up over all regions: the whole service's values."""
        ints = [0] * self.ints
        floats = [0.0] * self.floats
        for view in self._int_views:
            ints = list(map(add, ints, view.tolist()))
        for fview in self._float_views:
            floats = list(map(add, floats, fview.tolist()))
        return ints, floats
