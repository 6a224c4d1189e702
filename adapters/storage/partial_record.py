"""The record of a partial upload (``partials/<id>.info``), as pure functions
on bytes: ``{"v": 1, "offset", "length", "expires", "metadata"}`` in UTF-8
JSON. A record that is not exactly this is ``CorruptBlob``, never a guess."""

from __future__ import annotations

import json

from adapters.storage.blobfile import CorruptBlob
from ports.storage import PartialInfo

INFO_VERSION = 1
MAX_INFO = 64 << 10  # bytes of a record (the metadata is a few hundred)


def encode_info(info: PartialInfo) -> bytes:
    return json.dumps({"v": INFO_VERSION, "offset": info.offset, "length": info.length, "expires": info.expires,
                       "metadata": dict(info.metadata)}, ensure_ascii=False, separators=(",", ":")).encode()


def decode_info(raw: bytes) -> PartialInfo:
    try:
        record = json.loads(raw)
        if record.get("v") != INFO_VERSION:
            raise ValueError(f"version {record.get('v')!r}")
        offset, length, expires, metadata = record["offset"], record["length"], record["expires"], record["metadata"]
        if (not isinstance(offset, int) or offset < 0 or not (length is None or isinstance(length, int))
                or not isinstance(expires, (int, float)) or not isinstance(metadata, dict)
                or not all(isinstance(v, str) for v in metadata.values())):
            raise ValueError("bad fields")
    except (ValueError, KeyError, AttributeError) as exc:
        raise CorruptBlob(f"bad partial upload record: {exc}") from None
    return PartialInfo(offset, length, float(expires), metadata)
