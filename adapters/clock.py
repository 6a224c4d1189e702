"""The real clock: the event loop's sleep, the OS monotonic and wall clocks."""

from __future__ import annotations

import asyncio
import time


class AsyncioClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
