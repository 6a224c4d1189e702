"""Running hashes computed in a thread pool, beside the event loop
(``ports/hashing.py``).

Received chunks are collected until ``BLOCK`` bytes are pending, then hashed
as one job in the pool, while the loop goes on receiving the next block: on two
cores receiving and hashing overlap. A stream has at most one job in flight and
holds at most one block besides it (the next job waits for the previous one:
the chunks go into the hash in order, and memory stays bounded). The last block
of a body, less than ``BLOCK``, is hashed on the loop by ``settle``: a small
upload costs no thread round trip, which on one core would cost more than the
hashing itself. No chunk is copied: the job hashes the very ``bytes`` objects
it was given, which nothing changes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

# A job's size: large enough that the thread round trip (tens of microseconds)
# is noise next to the hashing (about half a millisecond per MiB), small
# enough that two blocks per upload stay cheap in memory.
BLOCK = 1 << 20


class ThreadedRunningHash:
    def __init__(self, digest: _Hash, executor: concurrent.futures.Executor, block: int = BLOCK) -> None:
        self._digest = digest
        self._executor = executor
        self._block = block
        self._pieces: list[bytes] = []
        self._pending = 0
        self._job: concurrent.futures.Future[None] | None = None

    async def update(self, chunk: bytes) -> None:
        self._pieces.append(chunk)
        self._pending += len(chunk)
        if self._pending >= self._block:
            await self._finish_job()
            pieces, self._pieces, self._pending = self._pieces, [], 0
            self._job = self._executor.submit(self._hash, pieces)

    def _hash(self, pieces: list[bytes]) -> None:
        update = self._digest.update
        for piece in pieces:
            update(piece)

    async def _finish_job(self) -> None:
        """Wait for the job in flight. A job already done costs no wake-up of
        the loop (no ``wrap_future`` callback): while the pool keeps up, the
        loop never hears from it."""
        job = self._job
        if job is not None:
            if not job.done():
                await asyncio.wrap_future(job)
            job.result()
            self._job = None

    async def settle(self) -> _Hash:
        await self._finish_job()
        pieces, self._pieces, self._pending = self._pieces, [], 0
        self._hash(pieces)
        return self._digest


class ThreadedHashing:
    """Streams hashing in ``executor`` (shared by every upload: give it about
    as many threads as the machine has cores)."""

    def __init__(self, executor: concurrent.futures.Executor, block: int = BLOCK) -> None:
        self._executor = executor
        self._block = block

    def stream(self, digest: _Hash) -> ThreadedRunningHash:
        return ThreadedRunningHash(digest, self._executor, self._block)
