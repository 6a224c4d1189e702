"""The part of the S3 client (``adapters/s3/client.py``) that the state kept
in the bucket uses: the ledger (``adapters/ledger/objects.py``) and partial
uploads (``adapters/s3/partials.py``). A protocol, so that the in-memory fake
(tests/fake_s3.py) and the real client are interchangeable; every method is
one S3 request, with S3's semantics for conditional writes:
``if_none_match=True`` puts only when the key does not exist, ``if_match``
only when the object's ETag is that one; either raises ``PreconditionFailed``
otherwise (some servers answer a missing key under ``If-Match`` with
``NoSuchKey`` instead: callers treat both alike)."""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence

from adapters.s3.client import ObjectInfo, S3Object


class ByteStream(Protocol):
    info: ObjectInfo

    async def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class ObjectApi(Protocol):
    async def put_object(self, key: str, body: bytes, *, metadata: Mapping[str, str] | None = None,
                         if_match: str | None = None, if_none_match: bool = False) -> str: ...

    async def get_object(self, key: str, *, max_size: int = 1 << 20) -> S3Object: ...

    async def head_object(self, key: str) -> ObjectInfo: ...

    async def delete_object(self, key: str) -> None: ...

    async def list_objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[ObjectInfo]: ...

    async def create_multipart(self, key: str, metadata: Mapping[str, str] | None = None) -> str: ...

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str: ...

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> str: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None: ...

    async def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]: ...

    async def open_stream(self, key: str, start: int = 0, end: int | None = None) -> ByteStream: ...
