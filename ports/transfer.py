"""The byte sink a driving adapter hands to the download service.

The domain decides how to pace a download; the transport decides how to move
bytes fastest (for example ``sendfile`` from a reader's descriptor).
"""

from __future__ import annotations

from typing import Protocol

from ports.storage import BlobReader


class ByteSink(Protocol):
    async def write(self, data: bytes) -> None:
        """Send ``data``, waiting while the peer is slow (backpressure).
        Raises ``ConnectionError`` when the peer is gone."""

    async def send_blob(self, reader: BlobReader, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``reader`` from ``offset`` as fast as possible
        (zero-copy where the reader allows it). Raises ``ConnectionError``."""


class ByteSource(Protocol):
    async def read(self, max_bytes: int) -> bytes:
        """The next bytes of a request body: at least one and at most
        ``max_bytes``, or ``b""`` once the body is complete. Raises
        ``ConnectionError`` when the body is cut short, or the transport's own
        error when the body is malformed."""
