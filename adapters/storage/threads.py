"""Blocking file-system calls, kept off the event loop.

Any such call on the loop stalls every connection of the process for as long
as the disk takes: a lookup in a cold directory, an ``unlink`` waiting for the
journal, an ``open`` on a network file system. Two tools move them to thread
pools:

- ``Offload`` runs short calls (``stat``, ``open``, ``unlink``) in batches: the
  calls made during one turn of the loop go to the pool as one job, and their
  results come back with one wake-up of the loop. One thread round trip per
  call would halve the ``/check`` throughput; per batch, it is shared by every
  request that arrived together.
- ``ThreadedFd`` holds one open file whose calls run in a pool, and closes it
  in the pool once its last call has ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from typing import Any, Callable, TypeVar

log = logging.getLogger("uds.storage")

T = TypeVar("T")
_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", "Callable[[Any], None] | None"]


class Offload:
    """Short blocking calls, run in ``executor`` in batches (see the module
    docstring). A batch runs its calls one after the other in one thread: a
    call that waits for the disk delays the others of its batch, never the
    loop. For a store used by one event loop at a time."""

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._executor = executor
        self._batch: list[_Call] = []
        self._batch_loop: asyncio.AbstractEventLoop | None = None  # the loop that will flush the batch

    async def run(self, fn: Callable[..., T], *args: Any, discard: Callable[[T], None] | None = None) -> T:
        """``fn(*args)`` in a pool thread. ``discard(result)`` (in a pool
        thread) releases a result nobody awaits any more, such as a
        descriptor opened for a task cancelled meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._batch_loop is not loop:  # a new loop: a batch of an earlier one is never flushed
            self._batch, self._batch_loop = [], loop
        if not self._batch:
            loop.call_soon(self._flush, loop)
        self._batch.append((fn, args, future, discard))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._batch_loop:
            return
        batch, self._batch = self._batch, []
        self._executor.submit(self._run_batch, loop, batch)

    def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Call]) -> None:
        outcomes: list[tuple[_Call, Any, BaseException | None]] = []
        for call in batch:
            fn, args, _, _ = call
            try:
                outcomes.append((call, fn(*args), None))
            except Exception as exc:
                outcomes.append((call, None, exc))
        try:
            loop.call_soon_threadsafe(self._deliver, outcomes)
        except RuntimeError:  # the loop is closed: nobody waits for these
            self._discard([(call, value) for call, value, exc in outcomes if exc is None])

    def _deliver(self, outcomes: list[tuple[_Call, Any, BaseException | None]]) -> None:
        unwanted = []
        for call, value, exc in outcomes:
            future = call[2]
            if future.cancelled():
                if exc is None:
                    unwanted.append((call, value))
            elif exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(value)
        if any(call[3] is not None for call, _ in unwanted):
            self._executor.submit(self._discard, unwanted)

    @staticmethod
    def _discard(unwanted: list[tuple[_Call, Any]]) -> None:
        for (_, _, _, discard), value in unwanted:
            if discard is not None:
                try:
                    discard(value)
                except OSError as exc:  # pragma: no cover - releasing a result nobody wants
                    log.warning("could not release an unused result: %s", exc)


class ThreadedFd:
    """An fd whose blocking calls, its opening and its closing run in a
    thread pool. Closing waits for a call still running in its thread (a task
    cancelled while awaiting one): closing under it could let a new ``open``
    reuse the number mid-write."""

    def __init__(self, fd: int | None, executor: concurrent.futures.Executor,
                 opener: Callable[[], int] | None = None) -> None:
        """Either an open ``fd``, or an ``opener`` that the first call runs in
        the pool: opening a file is a blocking syscall, and any such call on
        the event loop hands the interpreter lock to busy pool threads."""
        self._fd = fd
        self._opener = opener
        self._executor = executor
        self._pending: concurrent.futures.Future[Any] | None = None
        self._started: concurrent.futures.Future[Any] | None = None  # the job of ``start`` not yet finished
        self._closed = False

    @property
    def opened(self) -> bool:
        """Whether the descriptor exists (a call has used it): read on the
        loop once no call is running."""
        return self._fd is not None

    @property
    def fd(self) -> int:
        """The descriptor; opened on first use (in the calling thread)."""
        if self._fd is None:
            assert self._opener is not None
            self._fd = self._opener()
        return self._fd

    async def run(self, fn: Callable[..., T], *args: Any, executor: concurrent.futures.Executor | None = None) -> T:
        """``fn(*args)`` in the fd's pool, or in ``executor``."""
        if self._closed:
            raise ValueError("file is closed")
        future = (executor or self._executor).submit(fn, *args)
        self._pending = future
        return await asyncio.wrap_future(future)

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` in the fd's pool, not awaited: ``finish`` waits for it
        (and raises what it raised). One such job at a time: ``finish`` the
        previous one first."""
        if self._closed:
            raise ValueError("file is closed")
        self._started = self._pending = self._executor.submit(fn, *args)

    async def finish(self) -> None:
        """Wait for the job of ``start``, if any, and raise its exception. A
        job already done costs no wake-up of the loop."""
        job, self._started = self._started, None
        if job is not None:
            if not job.done():
                await asyncio.wrap_future(job)
            job.result()

    async def idle(self) -> None:
        """Wait until the last call submitted has ended (that of a cancelled
        caller may still run in its thread); its outcome is not raised."""
        pending = self._pending
        if pending is not None and not pending.done():
            await asyncio.wait([asyncio.wrap_future(pending)])

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Close the fd (and then call ``then``) in a pool thread, once the
        pending call has ended. Returns at once."""
        if self._closed:
            return
        self._closed = True

        def finish(_: object = None) -> None:
            try:
                if self._fd is not None:
                    os.close(self._fd)
            finally:
                if then is not None:
                    then()

        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(finish)  # run by the pool thread that ends it
            return
        try:
            self._executor.submit(finish)
        except RuntimeError:  # the pool is shut down (the process is exiting): close here
            finish()
