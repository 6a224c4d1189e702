"""Where a blob store keeps things in its bucket, and its blob record format.

Under the configured prefix::

    blobs/<id>            the committed blob's record: small UTF-8 JSON
                          {"v": 1, "size": n, "data": "<token>", "metadata": {...}}
    data/<id>/<token>     the blob's bytes (one object, multipart for large ones)

Why two objects: a blob's metadata (its SHA-256 among them) is known only at
commit, after the last byte, while S3 takes an object's ``x-amz-meta-*`` when
the (multipart) upload starts, and changing it later is a copy of the whole
object. So the data is uploaded first, under a key of its own nobody looks at,
and the commit writes the record with ``If-None-Match: *``: one small PUT,
atomic, that never replaces a committed blob. The record is the blob: ``stat``
reads it, a listing lists records, a delete removes the record first. JSON in
a body (not headers) keeps any metadata string exact, non-ASCII included.

The resumable uploads of ``adapters/s3`` (partials, owned by the ledger side)
publish a blob the same way: data under ``data/<id>/<token>``, then
``record_body`` written to ``blob_key`` with ``If-None-Match: *``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Mapping

from ports.storage import BlobInfo

RECORD_LIMIT = 256 * 1024  # a record is a few hundred bytes; a larger answer is not one of ours


class CorruptRecord(Exception):
    """A blob record that does not parse."""


@dataclass(frozen=True)
class BlobRecord:
    size: int
    data: str  # the token of the data object's key
    metadata: Mapping[str, str]

    @property
    def info(self) -> BlobInfo:
        return BlobInfo(self.size, dict(self.metadata))


@dataclass(frozen=True)
class Layout:
    """The keys of one store: everything under ``prefix`` ("" or ending in ``/``)."""

    prefix: str = ""

    def blob_key(self, blob_id: str) -> str:
        return f"{self.prefix}blobs/{blob_id}"

    def data_key(self, blob_id: str, token: str) -> str:
        return f"{self.prefix}data/{blob_id}/{token}"

    @property
    def blobs_prefix(self) -> str:
        return f"{self.prefix}blobs/"

    @property
    def data_prefix(self) -> str:
        return f"{self.prefix}data/"


def new_token() -> str:
    """A fresh data token: two uploads of one id never share a data object."""
    return secrets.token_hex(8)


def record_body(record: BlobRecord) -> bytes:
    return json.dumps({"v": 1, "size": record.size, "data": record.data, "metadata": dict(record.metadata)},
                      ensure_ascii=False, separators=(",", ":")).encode()


def parse_record(body: bytes) -> BlobRecord:
    try:
        doc = json.loads(body.decode())
        metadata = doc["metadata"]
        if (doc.get("v") != 1 or not isinstance(doc["size"], int) or doc["size"] < 0 or
                not isinstance(doc["data"], str) or not isinstance(metadata, dict) or
                not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
            raise ValueError("unexpected fields")
        return BlobRecord(doc["size"], doc["data"], metadata)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptRecord(str(exc)) from exc
