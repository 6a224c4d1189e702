"""The objects of a partial (tus) upload kept in a bucket
(``adapters/s3/partials.py``), as pure functions on bytes: no I/O.

``state``: UTF-8 JSON ``{"v": 1, "offset", "length", "expires", "metadata",
"segments": [[name, size], ...], "publishing"}``: the bytes received are the
segments' bytes in order (their sizes add up to ``offset``). ``publishing``
is set just before the upload becomes a blob, so that a crash after the blob
is published is recognised as a leftover, not an upload to go on with.

``lease``: ``{"v": 1, "holder": <token or null>, "until": <epoch seconds>}``:
who appends right now, until when (``null``: released).

Anything else is ``CorruptBlob``, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from adapters.storage.blobfile import CorruptBlob
from ports.storage import PartialInfo

VERSION = 1


@dataclass(frozen=True)
class Segment:
    name: str  # the object's name under the upload's prefix
    size: int


@dataclass(frozen=True)
class PartialState:
    info: PartialInfo
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    publishing: bool = False


def encode_state(state: PartialState) -> bytes:
    info = state.info
    return json.dumps({"v": VERSION, "offset": info.offset, "length": info.length, "expires": info.expires,
                       "metadata": dict(info.metadata), "segments": [[s.name, s.size] for s in state.segments],
                       "publishing": state.publishing}, ensure_ascii=False, separators=(",", ":")).encode()


def decode_state(raw: bytes) -> PartialState:
    try:
        data: Any = json.loads(raw)
        if data.get("v") != VERSION:
            raise ValueError(f"version {data.get('v')!r}")
        offset, length, expires, metadata = data["offset"], data["length"], data["expires"], data["metadata"]
        segments = tuple(Segment(str(name), int(size)) for name, size in data["segments"])
        if (not isinstance(offset, int) or offset != sum(s.size for s in segments)
                or not (length is None or isinstance(length, int)) or not isinstance(expires, (int, float))
                or not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
                or not isinstance(data["publishing"], bool)):
            raise ValueError("bad fields")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptBlob(f"bad partial upload state: {exc}") from None
    return PartialState(PartialInfo(offset, length, float(expires), metadata), segments, data["publishing"])


def encode_lease(holder: str | None, until: float) -> bytes:
    return json.dumps({"v": VERSION, "holder": holder, "until": until}).encode()


def decode_lease(raw: bytes) -> tuple[str | None, float]:
    try:
        data: Any = json.loads(raw)
        holder, until = data["holder"], data["until"]
        if data.get("v") != VERSION or not (holder is None or isinstance(holder, str)):
            raise ValueError("bad fields")
        return holder, float(until)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptBlob(f"bad partial upload lease: {exc}") from None
