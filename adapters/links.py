"""Link issuer: 128-bit random ids in lowercase base32, and the public URLs.

Lowercase base32 (a-z, 2-7) rather than base64url so that ids are safe as
file names on case-insensitive file systems, in URLs, and in shells.
"""

from __future__ import annotations

import base64
import os
import secrets

ID_BYTES = 16
ID_LENGTH = 26  # ceil(128 / 5)
RANDOM_BATCH = 256  # ids per draw from the OS
ID_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class LinkIssuer:
    def __init__(self, public_url: str | None = None) -> None:
        """``public_url``: a validated ``scheme://host[:port][/prefix]`` that
        overrides the request's own origin (behind a proxy, say)."""
        self._public_url = public_url.rstrip("/") if public_url else None
        self._random = b""
        self._offset = 0
        self._pid = 0

    def new_id(self) -> str:
        # Random bytes are drawn from the OS a few KiB at a time: a getrandom()
        # call per upload on the event loop hands the interpreter lock to busy
        # pool threads. The pool is refilled after a fork, so worker
        # processes never share ids.
        if self._offset + ID_BYTES > len(self._random) or self._pid != os.getpid():
            self._random = secrets.token_bytes(ID_BYTES * RANDOM_BATCH)
            self._offset = 0
            self._pid = os.getpid()
        raw = self._random[self._offset:self._offset + ID_BYTES]
        self._offset += ID_BYTES
        return base64.b32encode(raw).decode("ascii").rstrip("=").lower()

    def is_valid_id(self, candidate: str) -> bool:
        return len(candidate) == ID_LENGTH and ID_ALPHABET.issuperset(candidate)

    def _base(self, origin: str) -> str:
        return self._public_url or origin

    def check_url(self, blob_id: str, origin: str) -> str:
        return f"{self._base(origin)}/check/{blob_id}"

    def download_url(self, blob_id: str, origin: str) -> str:
        return f"{self._base(origin)}/download/{blob_id}"
