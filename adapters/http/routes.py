"""HTTP <-> domain: parse what a route needs from the request, call one
service, shape the JSON. ``ERRORS`` is the one map from domain errors to HTTP
status codes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from adapters.http.connection import Exchange
from adapters.http.headers import (
    UNSATISFIABLE,
    attachment,
    byte_range,
    disposition_filename,
    etag_for,
    etag_matches,
)
from adapters.http.response import JSON_HEADERS, http_date, json_bytes
from domain.errors import DomainError, EmptyUpload, FileNotFound, StorageFull, UploadTooLarge
from domain.memo import IdentityMemo
from domain.model import StoredFile
from domain.services import CheckService, DownloadService, UploadRequest, UploadService
from ports.links import Links
from ports.throttle import Throttle, ThrottlePolicy

log = logging.getLogger("uds.routes")

ERRORS: dict[type[DomainError], int] = {
    FileNotFound: 404,
    EmptyUpload: 400,
    UploadTooLarge: 413,
    StorageFull: 507,
}

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("POST", "PUT")


JSON_TYPE = list(JSON_HEADERS)


def _check_body(_: str, stored: StoredFile) -> bytes:
    return json_bytes({
        "status": 200,
        "file": stored.name,
        "message": "is ready to download",
        "id": stored.id,
        "size": stored.size,
        "sha256": stored.sha256,
        "created": stored.created_rfc3339,
    })


def _download_headers(_: str, stored: StoredFile) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/octet-stream"),
        ("Content-Disposition", attachment(stored.name)),
        ("ETag", etag_for(stored.sha256)),
        ("Last-Modified", http_date(stored.created.timestamp())),
        ("Accept-Ranges", "bytes"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "private, max-age=0, must-revalidate"),
    ]


@dataclass
class _ConnectionThrottles:
    upload: Throttle | None = None
    download: Throttle | None = None


class Routes:
    def __init__(
        self,
        upload: UploadService,
        check: CheckService,
        download: DownloadService,
        links: Links,
        throttles: ThrottlePolicy,
    ) -> None:
        self._upload = upload
        self._check = check
        self._download = download
        self._links = links
        self._throttles = throttles
        # Check bodies and download headers depend only on the (immutable)
        # file record: made once per record, not once per request.
        self._check_bodies: IdentityMemo[StoredFile, bytes] = IdentityMemo(_check_body)
        self._download_headers: IdentityMemo[StoredFile, list[tuple[str, str]]] = IdentityMemo(_download_headers)

    async def __call__(self, exchange: Exchange) -> None:
        path = exchange.request.path
        try:
            if path.startswith("/check/"):
                if self._allowed(exchange, READ_METHODS):
                    await self.check(exchange, path[7:])
            elif path.startswith("/download/"):
                if self._allowed(exchange, READ_METHODS):
                    await self.download(exchange, path[10:])
            elif path == "/upload" or path.startswith("/upload/"):
                if self._allowed(exchange, UPLOAD_METHODS):
                    await self.upload(exchange, unquote(path[8:]) or None)
            elif path == "/healthz":
                if self._allowed(exchange, READ_METHODS):
                    exchange.respond_json(200, {"status": 200, "message": "ok"})
            else:
                exchange.respond_error(404, "no such endpoint")
        except FileNotFound as exc:
            exchange.respond_json(404, {"status": 404, "file": exc.file_id, "message": "is not found"}, ())
        except DomainError as exc:
            exchange.respond_error(ERRORS[type(exc)], str(exc))

    @staticmethod
    def _allowed(exchange: Exchange, methods: tuple[str, ...]) -> bool:
        if exchange.request.method in methods:
            return True
        exchange.respond_error(405, f"method {exchange.request.method} is not allowed here",
                               [("Allow", ", ".join(methods))])
        return False

    def _connection_throttles(self, exchange: Exchange) -> _ConnectionThrottles:
        context = exchange.connection.context
        if not isinstance(context, _ConnectionThrottles):
            context = exchange.connection.context = _ConnectionThrottles()
        return context

    # -- endpoints --------------------------------------------------------------------

    async def upload(self, exchange: Exchange, path_name: str | None) -> None:
        request = exchange.request
        if "content-range" in request.headers:
            # RFC 9110 14.4: a PUT with Content-Range (``curl -C``) is a
            # partial update, which storing as a whole file would corrupt.
            # Refused before the body is read: the connection then closes.
            exchange.respond_error(400, "Content-Range in an upload: partial uploads are not supported")
            return
        if not request.chunked and request.content_length is None:
            exchange.respond_error(411, "Content-Length or chunked Transfer-Encoding required")
            return
        disposition = request.headers.get("content-disposition")
        name = (disposition_filename(disposition) if disposition else None) or path_name
        self._upload.precheck(request.content_length)
        throttles = self._connection_throttles(exchange)
        if throttles.upload is None:
            throttles.upload = self._throttles.upload()
        stored = await self._upload.upload(
            UploadRequest(name=name, content_type=request.headers.get("content-type"),
                          declared_size=request.content_length),
            exchange,
            throttles.upload,
        )
        origin = exchange.origin
        download_url = self._links.download_url(stored.id, origin)
        log.info("stored %s %r (%d bytes, sha256 %s)", stored.id, stored.name, stored.size, stored.sha256)
        exchange.respond_json(201, {
            "status": 201,
            "fileisuploaded": stored.name,
            "linkforcheck": self._links.check_url(stored.id, origin),
            "linkfordownload": download_url,
            "id": stored.id,
            "size": stored.size,
            "sha256": stored.sha256,
        }, [("Location", download_url)])

    async def check(self, exchange: Exchange, file_id: str) -> None:
        stored = await self._check.check(file_id)
        exchange.respond(200, JSON_TYPE, self._check_bodies.get(stored.id, stored))

    async def download(self, exchange: Exchange, file_id: str) -> None:
        opened = await self._download.open(file_id)
        try:
            stored = opened.file
            etag = etag_for(stored.sha256)
            headers = self._download_headers.get(stored.id, stored)
            request_headers = exchange.request.headers
            if_none_match = request_headers.get("if-none-match")
            if if_none_match is not None and etag_matches(if_none_match, etag):
                exchange.respond(304, headers)
                return
            start, end = 0, stored.size
            range_header = request_headers.get("range")
            if range_header is not None and self._if_range_holds(request_headers.get("if-range"), etag, headers):
                wanted = byte_range(range_header, stored.size)
                if wanted is UNSATISFIABLE:
                    exchange.respond_json(416, {"status": 416, "message": "range not satisfiable"},
                                          [("Content-Range", f"bytes */{stored.size}"), ("Accept-Ranges", "bytes")])
                    return
                if isinstance(wanted, tuple):
                    start, end = wanted
            if (start, end) != (0, stored.size):
                exchange.start(206, [*headers, ("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")],
                               end - start)
            else:
                exchange.start(200, headers, stored.size)
            if exchange.head_only:
                return
            throttles = self._connection_throttles(exchange)
            if throttles.download is None:
                throttles.download = self._throttles.download()
            await self._download.send(opened, start, end - start, exchange, throttles.download)
        finally:
            opened.reader.close()

    @staticmethod
    def _if_range_holds(if_range: str | None, etag: str, headers: list[tuple[str, str]]) -> bool:
        """RFC 9110 13.1.5: honour Range only if If-Range (when sent) still
        names this representation: the strong ETag or the exact Last-Modified."""
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith('"') or if_range.startswith("W/"):
            return if_range == etag
        return if_range == dict(headers)["Last-Modified"]
