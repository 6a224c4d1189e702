"""PLACEHOLDER until branch ``s3core`` is merged: only the error and value
types of the S3 client interface (/work/notes/s3_interface.md), so that the
ledger and partial uploads can be written and tested against the in-memory
fake (tests/fake_s3.py). On merging s3core, take s3core's file whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


class S3Error(Exception):
    """Any unexpected answer, with S3's ``<Code>``."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"{status} {code} {message}".strip())
        self.status = status
        self.code = code


class NoSuchKey(S3Error):
    """404 on an object."""


class PreconditionFailed(S3Error):
    """412 (If-Match / If-None-Match failed); also 409 ConditionalRequestConflict."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class S3Object:
    info: ObjectInfo
    body: bytes
