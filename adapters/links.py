"""Link issuer: 128-bit random ids in lowercase base32, and the public URLs.

Lowercase base32 (a-z, 2-7) rather than base64url so that ids are safe as
file names on case-insensitive file systems, in URLs, and in shells.
"""

from __future__ import annotations

import base64
import secrets

ID_BYTES = 16
ID_LENGTH = 26  # ceil(128 / 5)
ID_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class LinkIssuer:
    def __init__(self, public_url: str | None = None) -> None:
        """``public_url``: a validated ``scheme://host[:port][/prefix]`` that
        overrides the request's own origin (behind a proxy, say)."""
        self._public_url = public_url.rstrip("/") if public_url else None

    def new_id(self) -> str:
        return base64.b32encode(secrets.token_bytes(ID_BYTES)).decode("ascii").rstrip("=").lower()

    def is_valid_id(self, candidate: str) -> bool:
        return len(candidate) == ID_LENGTH and ID_ALPHABET.issuperset(candidate)

    def _base(self, origin: str) -> str:
        return self._public_url or origin

    def check_url(self, blob_id: str, origin: str) -> str:
        return f"{self._base(origin)}/check/{blob_id}"

    def download_url(self, blob_id: str, origin: str) -> str:
        return f"{self._base(origin)}/download/{blob_id}"
