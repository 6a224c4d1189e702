"""The janitor: removes the files whose life is over (expired, used up, or
deleted by a process that died before removing them) from the disk and the
ledger, a batch at a time, from the ledger's expiry index (never a scan).

It runs as one task on the event loop and awaits every step (the ledger and
the store do their blocking work in threads), so it never blocks the loop.
A download in progress is never broken: the store's open readers keep
working after the blob is deleted, and a lease stays renewable after its
record is removed. Every step is idempotent (a blob or record already gone
is skipped), so two janitors racing, or a janitor racing a delete, are
harmless; with ``--workers N`` only the first worker runs one anyway.
"""

from __future__ import annotations

import logging

from domain.errors import DomainError
from domain.lifecycle import Lifecycle
from ports.throttle import Clock

log = logging.getLogger("uds.janitor")

BATCH = 100
MAX_BATCHES = 100  # per sweep: a backlog is worked off over several sweeps, with pauses between


class Janitor:
    def __init__(self, lifecycle: Lifecycle, clock: Clock, interval: float) -> None:
        """``interval``: seconds between sweeps (a file is removed at most
        about that long after its life ended; it answers 404 at once)."""
        self._lifecycle = lifecycle
        self._clock = clock
        self.interval = interval

    async def sweep(self) -> int:
        """Remove what has expired by now; returns how many files. A file
        whose removal fails is logged and left for the next sweep."""
        removed = 0
        failed: set[str] = set()
        for _ in range(MAX_BATCHES):
            limit = BATCH + len(failed)  # failed ones are listed again: ask for that many more
            due = await self._lifecycle.call(self._lifecycle.ledger.expired(self._lifecycle.now(), limit))
            todo = [file_id for file_id in due if file_id not in failed]
            for file_id in todo:
                try:
                    await self._lifecycle.discard(file_id)
                    removed += 1
                except (OSError, DomainError) as exc:
                    log.warning("could not remove expired file %s: %s", file_id, exc)
                    failed.add(file_id)
            if len(due) < limit or not todo:
                break
        if removed:
            self._lifecycle.events.files_expired(removed)
            log.info("janitor: removed %d expired, used-up or deleted file(s)", removed)
        return removed

    async def run(self) -> None:
        """Sweep at once (files that expired while the service was down),
        then every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await self.sweep()
            except (DomainError, OSError) as exc:
                log.warning("janitor: sweep failed: %s", exc)
            except Exception:  # a bug: say so, and keep the files being removed
                log.exception("janitor: sweep failed")
            await self._clock.sleep(self.interval)
