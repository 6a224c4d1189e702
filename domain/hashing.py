"""Hashing on the caller's thread: the ``Hashing`` port's plain form, the
default of the services (in-process tests in virtual time use it; the
service itself hashes beside the event loop, ``adapters/hashing.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash


class InlineRunningHash:
    """Hashes each chunk as it comes."""

    def __init__(self, digest: _Hash) -> None:
        self._digest = digest

    async def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)

    async def settle(self) -> _Hash:
        return self._digest


class InlineHashing:
    def stream(self, digest: _Hash) -> InlineRunningHash:
        return InlineRunningHash(digest)
