"""The links port: unguessable ids and the public URLs built on them."""

from __future__ import annotations

from typing import Protocol


class Links(Protocol):
    def new_id(self) -> str:
        """A fresh id with at least 128 bits from a CSPRNG, safe in a URL path
        and in a file name. Never derived from anything the client sent."""

    def is_valid_id(self, candidate: str) -> bool:
        """True only for strings that could have come from ``new_id``: exact
        length and alphabet. Checked before any storage access."""

    def check_url(self, blob_id: str, origin: str) -> str:
        """Absolute URL of the check endpoint. ``origin`` (``scheme://host[:port]``)
        is what the request was addressed to; a configured public URL wins over it."""

    def download_url(self, blob_id: str, origin: str) -> str:
        """Absolute URL of the download endpoint (see ``check_url``)."""
