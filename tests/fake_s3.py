"""An in-memory S3 bucket behind the S3 client interface (adapters/s3/client.py),
for unit and contract tests of what keeps its state in a bucket.

It follows S3 where our code depends on it:

- ETags are quoted MD5s of the body (a multipart object's: the MD5 of its
  parts' MD5s, then ``-<count>``), so equal bodies have equal ETags, as on S3.
- ``if_none_match`` fails with ``PreconditionFailed`` (412) when the key
  exists; ``if_match`` when the ETag differs or the key is missing (SeaweedFS
  answers 412 there; AWS answers 404: ``missing_if_match=NoSuchKey`` makes
  the fake do that).
- Multipart: every part but the last at least 5 MiB (``EntityTooSmall``),
  the listed ETags must be the parts' (``InvalidPart``), ascending part
  numbers (``InvalidPartOrder``); parts uploaded but not listed are dropped;
  an unknown upload id is ``NoSuchUpload`` (404).
- Listing is in ascending key order, after ``start_after``.

Every call yields to the event loop once before it acts (a request's round
trip), so concurrent callers really interleave between a read and their
conditional write. ``fail`` makes the next calls of one operation raise, to
play a crash or a network error at a chosen step.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from adapters.s3.client import NoSuchKey, ObjectInfo, PreconditionFailed, S3Error, S3Object

MIN_PART = 5 << 20


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


@dataclass
class _Upload:
    key: str
    metadata: dict[str, str]
    parts: dict[int, bytes] = field(default_factory=dict)


class FakeStream:
    def __init__(self, info: ObjectInfo, body: bytes) -> None:
        self.info = info
        self._body = body
        self._at = 0

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)
        chunk = self._body[self._at:self._at + n]
        self._at += len(chunk)
        return chunk

    def close(self) -> None:
        self._body = b""


class FakeS3:
    """One bucket. ``objects`` maps keys to (body, metadata, etag)."""

    def __init__(self, missing_if_match: type[S3Error] = PreconditionFailed) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str], str]] = {}
        self.uploads: dict[str, _Upload] = {}
        self.calls: dict[str, int] = {}
        self._failures: dict[str, list[tuple[str, BaseException]]] = {}
        self._missing_if_match = missing_if_match
        self._next_upload = 0
        self._crash_after: int | None = None
        self.refused = 0  # conditional writes refused (412, or 404 under If-Match)

    def fail(self, operation: str, error: BaseException | None = None, times: int = 1, where: str = "") -> None:
        """Make the next ``times`` calls of ``operation`` (a method name) on
        a key containing ``where`` raise ``error`` (an ``S3Error(500,
        "InternalError")`` by default) without acting."""
        self._failures.setdefault(operation, []).extend(
            [(where, error or S3Error(500, "InternalError", "injected"))] * times)

    def crash_after(self, calls: int | None) -> None:
        """Let ``calls`` more calls act, then make every call raise
        ``ConnectionResetError`` without acting (a process that died, or lost
        the network, at that point), until ``crash_after(None)``."""
        self._crash_after = calls

    async def _call(self, operation: str, key: str = "") -> None:
        await asyncio.sleep(0)
        if self._crash_after is not None:
            if self._crash_after <= 0:
                raise ConnectionResetError(f"crashed before {operation} {key}")
            self._crash_after -= 1
        self.calls[operation] = self.calls.get(operation, 0) + 1
        pending = self._failures.get(operation, [])
        for index, (where, error) in enumerate(pending):
            if where in key:
                del pending[index]
                raise error

    def _info(self, key: str) -> ObjectInfo:
        if key not in self.objects:
            raise NoSuchKey(404, "NoSuchKey", key)
        body, metadata, etag = self.objects[key]
        return ObjectInfo(key, len(body), etag, dict(metadata))

    def _check(self, key: str, if_match: str | None, if_none_match: bool) -> None:
        try:
            self._precondition(key, if_match, if_none_match)
        except S3Error:
            self.refused += 1
            raise

    def _precondition(self, key: str, if_match: str | None, if_none_match: bool) -> None:
        current = self.objects.get(key)
        if if_none_match and current is not None:
            raise PreconditionFailed(412, "PreconditionFailed", key)
        if if_match is not None:
            if current is None:
                raise self._missing_if_match(412 if self._missing_if_match is PreconditionFailed else 404,
                                             "PreconditionFailed", key)
            if current[2] != if_match:
                raise PreconditionFailed(412, "PreconditionFailed", key)

    # -- objects -------------------------------------------------------------------------

    async def head_bucket(self) -> None:
        await self._call("head_bucket")

    async def put_object(self, key: str, body: bytes, *, metadata: Mapping[str, str] | None = None,
                         if_match: str | None = None, if_none_match: bool = False) -> str:
        await self._call("put_object", key)
        self._check(key, if_match, if_none_match)
        etag = _etag(body)
        self.objects[key] = (bytes(body), {k.lower(): v for k, v in (metadata or {}).items()}, etag)
        return etag

    async def get_object(self, key: str, *, max_size: int = 1 << 20) -> S3Object:
        await self._call("get_object", key)
        info = self._info(key)
        if info.size > max_size:
            raise S3Error(200, "TooLarge", f"{key} is {info.size} bytes, more than {max_size}")
        return S3Object(info, self.objects[key][0])

    async def head_object(self, key: str) -> ObjectInfo:
        await self._call("head_object", key)
        return self._info(key)

    async def delete_object(self, key: str) -> None:
        await self._call("delete_object", key)
        self.objects.pop(key, None)

    async def list_objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[ObjectInfo]:
        await self._call("list_objects", prefix)
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > start_after)[:max(0, limit)]
        return [ObjectInfo(k, len(self.objects[k][0]), self.objects[k][2], {}) for k in keys]

    async def open_stream(self, key: str, start: int = 0, end: int | None = None) -> FakeStream:
        await self._call("open_stream", key)
        info = self._info(key)
        body = self.objects[key][0]
        if body and start >= len(body):
            raise S3Error(416, "InvalidRange", key)
        return FakeStream(info, body[start:len(body) if end is None else end + 1])  # ``end`` inclusive

    # -- multipart -----------------------------------------------------------------------

    def _upload(self, key: str, upload_id: str) -> _Upload:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise S3Error(404, "NoSuchUpload", upload_id)
        return upload

    async def create_multipart(self, key: str, metadata: Mapping[str, str] | None = None) -> str:
        await self._call("create_multipart", key)
        self._next_upload += 1
        upload_id = f"upload-{self._next_upload:06d}"
        self.uploads[upload_id] = _Upload(key, {k.lower(): v for k, v in (metadata or {}).items()})
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        await self._call("upload_part", key)
        if not 1 <= number <= 10000:
            raise S3Error(400, "InvalidArgument", f"part number {number}")
        self._upload(key, upload_id).parts[number] = bytes(body)
        return _etag(body)

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> str:
        await self._call("complete_multipart", key)
        upload = self._upload(key, upload_id)
        if not parts:
            raise S3Error(400, "MalformedXML", "no parts")
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error(400, "InvalidPartOrder", str(numbers))
        bodies = []
        for index, (number, etag) in enumerate(parts):
            body = upload.parts.get(number)
            if body is None or _etag(body) != etag:
                raise S3Error(400, "InvalidPart", f"part {number}")
            if index < len(parts) - 1 and len(body) < MIN_PART:
                raise S3Error(400, "EntityTooSmall", f"part {number} is {len(body)} bytes")
            bodies.append(body)
        digest = hashlib.md5(b"".join(hashlib.md5(b).digest() for b in bodies)).hexdigest()
        etag = f'"{digest}-{len(bodies)}"'
        self.objects[key] = (b"".join(bodies), upload.metadata, etag)
        del self.uploads[upload_id]
        return etag

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart", key)
        self._upload(key, upload_id)
        del self.uploads[upload_id]

    async def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        await self._call("list_multipart_uploads", prefix)
        return sorted((u.key, upload_id) for upload_id, u in self.uploads.items() if u.key.startswith(prefix))
