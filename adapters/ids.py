"""Random ids: 128 bits from the OS's CSPRNG, in lowercase base32.

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


class RandomIds:
    def __init__(self) -> None:
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
