"""The hashing port: where the running hash of an upload (its sha256, a tus
append's checksum) is computed.

Hashing a large upload takes about as much CPU as receiving it. Computed on
the event loop, it halves what one core takes in; in another thread (hashlib
releases the interpreter lock while it hashes more than 2 KiB) it overlaps the
receiving on a second core. The domain feeds every received chunk, in order,
to a ``RunningHash`` and asks for the settled hash object at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hashlib import _Hash


class RunningHash(Protocol):
    """One stream of bytes into one hash object. The bytes given to ``update``
    are never changed by the caller afterwards (``bytes``): they may be hashed
    later, in another thread."""

    async def update(self, chunk: bytes) -> None:
        """Add ``chunk`` after the chunks before it. May wait while earlier
        chunks are still being hashed (that bounds what it holds)."""

    async def settle(self) -> _Hash:
        """The hash object once every chunk given is in it; it is the caller's
        again from then on (``hexdigest``, ``copy``, or a new stream)."""


class Hashing(Protocol):
    def stream(self, digest: _Hash) -> RunningHash:
        """A stream feeding ``digest`` (a fresh ``hashlib`` object or a copy
        of one that covers a prefix of the bytes)."""
