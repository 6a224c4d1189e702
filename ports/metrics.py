"""The metrics port: what the services tell the operators' counters.

The domain reports events where they happen (a transfer begins and ends, a
file is stored, deleted on its token, removed by the janitor); an adapter
counts them (``adapters/metrics/``). Calls are cheap and never fail: they
run on the hot path of every transfer.
"""

from __future__ import annotations

from typing import Callable, Protocol

# The kinds of speed limit a wait is spent on, and the directions.
LIMITS = ("connection", "client", "total")
DIRECTIONS = ("upload", "download")


class ServiceEvents(Protocol):
    def upload_started(self) -> None:
        """An upload body (or a resumable upload's append) starts streaming in."""

    def upload_ended(self) -> None:
        """That body ended, whichever way (always once per ``upload_started``)."""

    def upload_stored(self) -> None:
        """A file was stored: committed and recorded in the ledger."""

    def download_started(self) -> None:
        """A download response's body starts streaming out."""

    def download_ended(self, complete: bool) -> None:
        """That body ended; ``complete``: every byte it was to send went."""

    def file_deleted(self) -> None:
        """A file was deleted on its delete token."""

    def files_expired(self, count: int) -> None:
        """The janitor removed ``count`` files whose life was over."""


class WaitMeters(Protocol):
    def meter(self, limit: str, direction: str) -> Callable[[float], None]:
        """The function a bucket of this kind (``limit`` one of ``LIMITS``,
        ``direction`` one of ``DIRECTIONS``) calls with the seconds each of
        its waits took; asked once per bucket, not per wait."""


class NoEvents:
    """Events nobody counts (the default of the services)."""

    def upload_started(self) -> None:
        pass

    def upload_ended(self) -> None:
        pass

    def upload_stored(self) -> None:
        pass

    def download_started(self) -> None:
        pass

    def download_ended(self, complete: bool) -> None:
        pass

    def file_deleted(self) -> None:
        pass

    def files_expired(self, count: int) -> None:
        pass


NO_EVENTS = NoEvents()
