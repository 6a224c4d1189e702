"""The tus 1.0.0 endpoints under ``/files/``: HTTP <-> ``ResumableService``.

``Routes.handle`` hands every request of the ``tus`` route here: ``/files/``
(the collection: ``OPTIONS``, creation by ``POST``) and ``/files/<id>`` (one
upload: ``OPTIONS``, ``HEAD``, ``PATCH``, ``DELETE``, and ``GET`` for its
progress, or the stored file's JSON once finished). Extensions: creation,
creation-with-upload, termination, checksum (sha1, sha256, md5), expiration.

Every answer but ``OPTIONS`` carries ``Tus-Resumable``; a request without the
supported one gets 412 with ``Tus-Version`` (``GET``, which is ours, not tus's,
needs none). ``X-HTTP-Method-Override`` is honoured. Domain errors become
answers through ``adapters/http/errors.py`` like everywhere else.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from adapters.http.errors import domain_error_payload
from adapters.http.exchange import Exchange
from adapters.http.response import http_date
from adapters.http.tus_headers import (
    TUS_EXTENSIONS,
    TUS_VERSION,
    TusHeaderError,
    effective_method,
    encode_metadata,
    is_offset_stream,
    metadata_text,
    parse_checksum,
    parse_deferred,
    parse_metadata,
    parse_size,
)
from domain.errors import DomainError, PastLength
from domain.model import StoredFile
from domain.resumable import CHECKSUM_ALGORITHMS, Append, Progress, ResumableService
from domain.services import UploadRequest
from ports.throttle import Throttle

ROUTE = "tus"
COLLECTION_METHODS = ("OPTIONS", "POST")
UPLOAD_METHODS = ("OPTIONS", "HEAD", "GET", "PATCH", "DELETE")
METHODS = ("OPTIONS", "POST", "HEAD", "GET", "PATCH", "DELETE")  # the route's
TUS_RESUMABLE = ("Tus-Resumable", TUS_VERSION)
NO_STORE = ("Cache-Control", "no-store")

Headers = list[tuple[str, str]]
Link = Callable[..., str]  # link(route, exchange, *values)


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat().replace("+00:00", "Z")


class TusEndpoints:
    def __init__(self, service: ResumableService | None, max_size: int, link: Link) -> None:
        """``service`` is ``None`` when the store cannot keep partial uploads
        (every request is then 404). ``link(route, exchange, *values)``
        builds a public URL."""
        self._service = service
        self._max_size = max_size
        self._link = link

    async def handle(self, exchange: Exchange, upload_id: str, throttle: Callable[[], Throttle]) -> None:
        request = exchange.request
        method = effective_method(request.method, request.headers)
        allowed = UPLOAD_METHODS if upload_id else COLLECTION_METHODS
        if method not in allowed:
            exchange.respond_error(405, f"method {method} is not allowed here",
                                   [("Allow", ", ".join(allowed)), TUS_RESUMABLE])
            return
        if method == "OPTIONS":
            self.options(exchange)
            return
        if method != "GET" and request.headers.get("tus-resumable", "").strip(" \t") != TUS_VERSION:
            exchange.respond_error(412, f"Tus-Resumable: {TUS_VERSION} is required",
                                   [("Tus-Version", TUS_VERSION), TUS_RESUMABLE])
            return
        service = self._service
        if service is None:
            exchange.respond_error(404, "resumable uploads are not available on this store", [TUS_RESUMABLE])
            return
        extra: Headers = []  # headers for an error answer too (the Location of a created upload)
        try:
            if method == "POST":
                await self.create(exchange, service, throttle, extra)
            elif method == "PATCH":
                await self.patch(exchange, service, upload_id, throttle)
            elif method == "DELETE":
                await service.terminate(upload_id)
                exchange.respond(204, [TUS_RESUMABLE])
            elif method == "HEAD":
                self.head(exchange, await service.status(upload_id))
            else:
                self.progress(exchange, await service.status(upload_id))
        except TusHeaderError as exc:
            exchange.respond_error(exc.status, exc.message, [TUS_RESUMABLE, *extra])
        except DomainError as exc:
            status, payload = domain_error_payload(exc)
            exchange.respond_json(status, payload, [TUS_RESUMABLE, *extra])

    def options(self, exchange: Exchange) -> None:
        headers = [TUS_RESUMABLE, ("Tus-Version", TUS_VERSION), ("Tus-Extension", TUS_EXTENSIONS),
                   ("Tus-Checksum-Algorithm", ",".join(CHECKSUM_ALGORITHMS))]
        if self._max_size:
            headers.append(("Tus-Max-Size", str(self._max_size)))
        exchange.respond(204, headers)

    async def create(self, exchange: Exchange, service: ResumableService, throttle: Callable[[], Throttle],
                     extra: Headers) -> None:
        headers = exchange.request.headers
        length = parse_size(headers, "Upload-Length")
        if parse_deferred(headers) == (length is not None):
            raise TusHeaderError("send either Upload-Length or Upload-Defer-Length: 1")
        raw_metadata = headers.get("upload-metadata", "")
        metadata = parse_metadata(raw_metadata)
        declared = exchange.request.content_length
        with_upload = exchange.request.has_body
        if with_upload and not is_offset_stream(headers):
            raise TusHeaderError("a creation with data needs Content-Type: application/offset+octet-stream", 415)
        checksum = parse_checksum(headers) if with_upload else None
        if length is not None and declared is not None and declared > length:
            raise PastLength(length)
        progress = await service.create(UploadRequest(
            name=metadata_text(metadata, "filename", "name"),
            content_type=metadata_text(metadata, "filetype", "type"),
            declared_size=length,
        ), raw_metadata)
        extra.append(("Location", self._link(ROUTE, exchange, progress.id)))
        result: Progress | StoredFile = progress
        if with_upload:
            result = await service.append(progress.id, Append(0, declared, None, checksum), exchange, throttle())
        exchange.respond(201, [TUS_RESUMABLE, *extra, *self._state(exchange, result)])

    async def patch(self, exchange: Exchange, service: ResumableService, upload_id: str,
                    throttle: Callable[[], Throttle]) -> None:
        headers = exchange.request.headers
        if not is_offset_stream(headers):
            raise TusHeaderError("PATCH needs Content-Type: application/offset+octet-stream", 415)
        offset = parse_size(headers, "Upload-Offset")
        if offset is None:
            raise TusHeaderError("Upload-Offset is required")
        declared = None if exchange.request.chunked else exchange.request.content_length or 0
        append = Append(offset, declared, parse_size(headers, "Upload-Length"), parse_checksum(headers))
        result = await service.append(upload_id, append, exchange, throttle())
        exchange.respond(204, [TUS_RESUMABLE, *self._state(exchange, result)])

    def head(self, exchange: Exchange, result: Progress | StoredFile) -> None:
        headers = [TUS_RESUMABLE, NO_STORE, *self._state(exchange, result)]
        if isinstance(result, StoredFile):
            headers.append(("Upload-Length", str(result.size)))
            headers.append(("Upload-Metadata", encode_metadata({"filename": result.name,
                                                                "filetype": result.content_type})))
        else:
            headers.append(("Upload-Length", str(result.length)) if result.length is not None
                           else ("Upload-Defer-Length", "1"))
            if result.client_metadata:
                headers.append(("Upload-Metadata", result.client_metadata))
        exchange.respond(200, headers)

    def progress(self, exchange: Exchange, result: Progress | StoredFile) -> None:
        """``GET``: a finished upload's JSON is a plain upload's; one in
        progress shows how far it is."""
        if isinstance(result, StoredFile):
            exchange.respond_json(200, self.finished(exchange, result), [NO_STORE])
            return
        exchange.respond_json(200, {
            "status": 200,
            "message": "upload in progress",
            "id": result.id,
            "file": result.request.name,
            "offset": result.offset,
            "length": result.length,
            "expires": rfc3339(result.expires),
        }, [NO_STORE])

    def finished(self, exchange: Exchange, stored: StoredFile) -> dict[str, object]:
        """The JSON of a finished upload: a plain upload's keys without the
        delete link and token, which are shown once, to the uploader."""
        link = self._link
        return {
            "status": 200,
            "fileisuploaded": stored.name,
            "linkforcheck": link("check", exchange, stored.id),
            "linkfordownload": link("download", exchange, stored.id),
            "linkfordownloadnamed": link("download_named", exchange, stored.id, stored.name),
            "id": stored.id,
            "size": stored.size,
            "sha256": stored.sha256,
        }

    def _state(self, exchange: Exchange, result: Progress | StoredFile) -> Headers:
        """``Upload-Offset``, then ``Upload-Expires`` while in progress, or the
        stored file's links once finished."""
        if isinstance(result, StoredFile):
            return [("Upload-Offset", str(result.size)),
                    ("Upload-Check-Link", self._link("check", exchange, result.id)),
                    ("Upload-Download-Link", self._link("download", exchange, result.id))]
        return [("Upload-Offset", str(result.offset)), ("Upload-Expires", http_date(result.expires))]
