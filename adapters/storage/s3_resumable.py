"""The S3 store with partial (tus) uploads kept in the bucket: ``S3Store``
plus the ``Resumable`` capability of ``adapters/s3/partials.py``, so that
any instance sharing the bucket can take an upload where another left it."""

from __future__ import annotations

import time
from typing import Callable, Mapping

from adapters.s3.client import S3Client
from adapters.s3.partial_appender import S3PartialAppender
from adapters.s3.partials import S3Partials
from adapters.storage.s3 import DEFAULT_PART_SIZE, S3Store
from ports.storage import PartialInfo

DEFAULT_SEGMENT_SIZE = 8 << 20  # bytes of a partial upload's segment objects (and of an append's buffer)


class ResumableS3Store(S3Store):
    """``S3Store`` with ``Resumable``. ``segment_size`` bounds what an append
    holds in memory; ``lease_seconds`` how long a crashed appender keeps an
    upload from others (``clock``: wall-clock epoch seconds)."""

    def __init__(self, client: S3Client, prefix: str = "", part_size: int = DEFAULT_PART_SIZE, *,
                 segment_size: int = DEFAULT_SEGMENT_SIZE, lease_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, prefix, part_size)
        self.partials = S3Partials(client, self.layout.prefix, self, segment_size=segment_size,
                                   lease_seconds=lease_seconds, clock=clock)

    async def create_partial(self, upload_id: str, length: int | None, expires: float,
                             metadata: Mapping[str, str]) -> PartialInfo:
        return await self.partials.create(upload_id, length, expires, metadata)

    async def partial_info(self, upload_id: str) -> PartialInfo:
        return await self.partials.info(upload_id)

    async def open_append(self, upload_id: str) -> S3PartialAppender:
        return await self.partials.open_append(upload_id)

    async def remove_partial(self, upload_id: str) -> None:
        await self.partials.remove(upload_id)

    async def remove_expired(self, now: float) -> int:
        return await self.partials.remove_expired(now)
