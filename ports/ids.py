"""The id port: unguessable ids for stored files.

URLs are not the domain's business: the HTTP adapter builds them from its
route table (``adapters/http/routing.py``).
"""

from __future__ import annotations

from typing import Protocol


class IdIssuer(Protocol):
    def new_id(self) -> str:
        """A fresh id with at least 128 bits from a CSPRNG, safe in a URL path
        and in a file name. Never derived from anything the client sent."""

    def is_valid_id(self, candidate: str) -> bool:
        """True only for strings that could have come from ``new_id``: exact
        length and alphabet. Checked before any storage access."""
