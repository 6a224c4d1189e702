"""Group commit: calls that one job can carry out together (ledger records
added in one transaction, with one flush to the disk), gathered while the
job before them runs.

One job is in flight at a time. The calls that arrive meanwhile wait in a
queue and go as the next job, all of them: under load, the batches grow to
what arrives during one flush, so the flushes per call fall as the load rises,
while a lone call still goes at once. Each caller gets its own outcome (the
job returns one per item), delivered with one wake-up of the loop per job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
Outcome = BaseException | None
_Waiting = tuple[T, "asyncio.Future[None]"]


class GroupCommit(Generic[T]):
    """``run_batch(items)`` (in ``executor``) does the items in order and
    returns an outcome per item: ``None`` for done, else the exception that
    item's caller gets; an exception it raises goes to every caller of the
    batch. For the callers of one event loop at a time."""

    def __init__(self, executor: concurrent.futures.Executor,
                 run_batch: Callable[[list[T]], list[Outcome]]) -> None:
        self._executor = executor
        self._run_batch = run_batch
        self._queue: list[_Waiting[T]] = []
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, item: T) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop: a job of an earlier one never reports here
            self._queue, self._busy, self._loop = [], False, loop
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((item, future))
        if not self._busy:
            self._start(loop)
        await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._queue = self._queue, []
        self._busy = True
        job = self._executor.submit(self._run_batch, [item for item, _ in batch])

        def report(done: concurrent.futures.Future[list[Outcome]]) -> None:
            try:
                loop.call_soon_threadsafe(self._finish, loop, batch, done)
            except RuntimeError:  # the loop is closed: nobody waits for these
                pass

        job.add_done_callback(report)

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting[T]],
                done: concurrent.futures.Future[list[Outcome]]) -> None:
        if loop is not self._loop:
            return
        self._busy = False
        try:
            outcomes = done.result()
        except BaseException as exc:  # the whole job failed (no commit)
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes):
            if future.done():  # cancelled meanwhile: its item was done anyway, as with any job in a thread
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
        if self._queue:
            self._start(loop)
