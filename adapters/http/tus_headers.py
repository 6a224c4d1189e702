"""The header fields of tus 1.0.0 (https://tus.io/protocols/resumable-upload),
sans-I/O: parsed from a request's header dict, written for responses.

Every parser is linear in its input and bounded: sizes are at most
``MAX_DIGITS`` ASCII digits; ``Upload-Metadata`` is at most
``MAX_METADATA_CHARS`` characters in at most ``MAX_METADATA_PAIRS`` pairs,
split once on commas and once on the first space of each pair. A malformed
field raises ``TusHeaderError`` (400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Mapping

from domain.resumable import CHECKSUM_ALGORITHMS, Checksum

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
MAX_DIGITS = 18
MAX_METADATA_CHARS = 4096
MAX_METADATA_PAIRS = 32
# What a browser client must be allowed to send and to read (for CORS).
REQUEST_HEADERS = ("Tus-Resumable", "Upload-Length", "Upload-Defer-Length", "Upload-Metadata", "Upload-Offset",
                   "Upload-Checksum", "X-HTTP-Method-Override", "Content-Type")
RESPONSE_HEADERS = ("Location", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
                    "Tus-Checksum-Algorithm", "Upload-Offset", "Upload-Length", "Upload-Defer-Length",
                    "Upload-Metadata", "Upload-Expires", "Upload-Check-Link", "Upload-Download-Link",
                    "Upload-Share-Link", "Upload-Delete-Link")

_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # a token: no space, no comma, not empty


class TusHeaderError(ValueError):
    """A tus header field that cannot be used; answer ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_size(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer field (``Upload-Length``, ``Upload-Offset``),
    or ``None`` when absent."""
    value = headers.get(name.lower())
    if value is None:
        return None
    digits = value.strip(" \t")
    if not digits or len(digits) > MAX_DIGITS or not digits.isascii() or not digits.isdigit():
        raise TusHeaderError(f"{name} must be a number of at most {MAX_DIGITS} digits")
    return int(digits)


def parse_deferred(headers: Mapping[str, str]) -> bool:
    """``Upload-Defer-Length: 1`` (the only value it may have)."""
    value = headers.get("upload-defer-length")
    if value is None:
        return False
    if value.strip(" \t") != "1":
        raise TusHeaderError("Upload-Defer-Length must be 1")
    return True


def parse_metadata(value: str) -> dict[str, bytes]:
    """``key base64,key2 base64,key3``: keys unique tokens, values base64
    (standard alphabet, padded; a key may have none)."""
    if len(value) > MAX_METADATA_CHARS:
        raise TusHeaderError(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs: dict[str, bytes] = {}
    if not value.strip(" \t"):
        return pairs
    items = value.split(",", MAX_METADATA_PAIRS)
    if len(items) > MAX_METADATA_PAIRS:
        raise TusHeaderError(f"Upload-Metadata has more than {MAX_METADATA_PAIRS} pairs")
    for item in items:
        key, _, encoded = item.strip(" \t").partition(" ")
        if not _KEY.match(key) or key in pairs:
            raise TusHeaderError("Upload-Metadata keys must be unique, not empty, without spaces or commas")
        try:
            pairs[key] = base64.b64decode(encoded.strip(" \t"), validate=True)
        except (binascii.Error, ValueError):
            raise TusHeaderError(f"Upload-Metadata value of {key!r} is not base64") from None
    return pairs


def metadata_text(pairs: Mapping[str, bytes], *keys: str) -> str | None:
    """The first of ``keys`` present, as text (UTF-8, bad bytes replaced)."""
    for key in keys:
        if key in pairs:
            return pairs[key].decode("utf-8", errors="replace")
    return None


def encode_metadata(pairs: Mapping[str, str]) -> str:
    """``Upload-Metadata`` for text values."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode('ascii')}" for key, value in pairs.items())


def parse_checksum(headers: Mapping[str, str]) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; an algorithm not in
    ``Tus-Checksum-Algorithm`` is 400, as tus asks."""
    value = headers.get("upload-checksum")
    if value is None:
        return None
    algorithm, _, encoded = value.strip(" \t").partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusHeaderError(f"Upload-Checksum algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}")
    try:
        digest = base64.b64decode(encoded.strip(" \t"), validate=True)
    except (binascii.Error, ValueError):
        raise TusHeaderError("Upload-Checksum digest is not base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusHeaderError(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


def is_offset_stream(headers: Mapping[str, str]) -> bool:
    """The body is ``application/offset+octet-stream`` (parameters ignored)."""
    return headers.get("content-type", "").split(";", 1)[0].strip(" \t").lower() == OFFSET_STREAM


def effective_method(method: str, headers: Mapping[str, str]) -> str:
    """``X-HTTP-Method-Override`` when sent (for clients that can only send
    GET and POST), else the request's method."""
    override = headers.get("x-http-method-override")
    return override.strip(" \t").upper() if override is not None else method
