"""Offload (batched blocking calls) and ThreadedFd, without a store around them."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from adapters.storage.threads import Offload, ThreadedFd


class CountingPool(ThreadPoolExecutor):
    """A pool that counts the jobs it was given."""

    def __init__(self) -> None:
        super().__init__(2)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


def test_calls_of_one_loop_turn_share_one_job_and_keep_their_own_outcome() -> None:
    pool = CountingPool()
    offload = Offload(pool)
    loop_thread: list[threading.Thread] = []

    def square(n: int) -> int:
        assert threading.current_thread() is not loop_thread[0]
        if n == 3:
            raise ValueError("three")
        return n * n

    async def scenario() -> list[object]:
        loop_thread.append(threading.current_thread())
        return await asyncio.gather(*(offload.run(square, n) for n in range(50)), return_exceptions=True)

    try:
        results = asyncio.run(scenario())
    finally:
        pool.shutdown(wait=True)
    assert pool.jobs == 1
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [n * n for n in range(50) if n != 3]


def test_a_result_nobody_awaits_is_released(tmp_path: Path) -> None:
    # A download cancelled while its file is being opened must not leak the descriptor.
    (tmp_path / "f").write_bytes(b"x")
    pool = ThreadPoolExecutor(1)
    offload = Offload(pool)
    entered, release = threading.Event(), threading.Event()
    released: list[int] = []

    def slow_open() -> int:
        entered.set()
        assert release.wait(10)
        return os.open(tmp_path / "f", os.O_RDONLY)

    def discard(fd: int) -> None:
        released.append(fd)
        os.close(fd)

    async def scenario() -> None:
        task = asyncio.ensure_future(offload.run(slow_open, discard=discard))
        assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        while not released:  # the result comes back to the loop, which hands it to discard
            await asyncio.sleep(0.01)

    try:
        asyncio.run(asyncio.wait_for(scenario(), 10))
    finally:
        release.set()
        pool.shutdown(wait=True)
    with pytest.raises(OSError):
        os.fstat(released[0])


def test_a_batch_left_by_a_stopped_loop_does_not_stall_the_next() -> None:
    pool = ThreadPoolExecutor(1)
    offload = Offload(pool)
    first = asyncio.new_event_loop()
    try:
        task = first.create_task(offload.run(abs, -1))
        first.call_soon(first.stop)  # stops before the flush it scheduled runs
        first.run_forever()
        assert not task.done()
        task.cancel()
    finally:
        first.close()
    try:
        assert asyncio.run(asyncio.wait_for(offload.run(abs, -2), 10)) == 2
    finally:
        pool.shutdown(wait=True)


def test_a_threaded_fd_is_closed_in_the_pool(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    pool = ThreadPoolExecutor(1)
    closed_in: list[threading.Thread] = []
    ThreadedFd(fd, pool).close(then=lambda: closed_in.append(threading.current_thread()))
    pool.shutdown(wait=True)
    assert closed_in and closed_in[0] is not threading.current_thread()
    with pytest.raises(OSError):
        os.fstat(fd)
