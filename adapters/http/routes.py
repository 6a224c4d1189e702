"""HTTP <-> domain: parse what a route needs from the request, call one
service, shape the JSON. The URL shapes live in ``ROUTES`` (the route table);
domain errors become answers through ``adapters/http/errors.py`` only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from adapters.http.exchange import Exchange, Handler
from adapters.http.errors import domain_error_payload
from adapters.http.headers import (
    UNSATISFIABLE,
    attachment,
    byte_range,
    disposition_filename,
    etag_for,
    etag_matches,
)
from adapters.http.response import JSON_HEADERS, http_date, json_bytes
from adapters.http.routing import MethodNotAllowed, NoRoute, Route, Router
from adapters.http.tus import METHODS as TUS_METHODS
from adapters.http.tus import TusEndpoints
from domain.errors import DomainError
from domain.memo import IdentityMemo
from domain.model import StoredFile
from domain.resumable import ResumableService
from domain.services import CheckService, DownloadService, UploadRequest, UploadService
from ports.throttle import Throttle, ThrottlePolicy

log = logging.getLogger("uds.routes")

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("POST", "PUT")

ROUTES = Router([
    Route("upload", UPLOAD_METHODS, "/upload/{name}", bare=True),
    Route("check", READ_METHODS, "/check/{id}"),
    Route("download", READ_METHODS, "/download/{id}"),
    Route("health", READ_METHODS, "/healthz"),
    Route("tus", TUS_METHODS, "/files/{id}", bare=True),
])


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
class Session:
    """What one connection keeps between its requests: its own speed-limit
    budgets, made on first use, so a per-connection limit holds across
    keep-alive requests."""

    routes: Routes
    upload_throttle: Throttle | None = None
    download_throttle: Throttle | None = None

    async def handle(self, exchange: Exchange) -> None:
        await self.routes.handle(self, exchange)

    def upload(self) -> Throttle:
        if self.upload_throttle is None:
            self.upload_throttle = self.routes.throttles.upload()
        return self.upload_throttle

    def download(self) -> Throttle:
        if self.download_throttle is None:
            self.download_throttle = self.routes.throttles.download()
        return self.download_throttle


class Routes:
    def __init__(
        self,
        upload: UploadService,
        check: CheckService,
        download: DownloadService,
        throttles: ThrottlePolicy,
        public_url: str | None = None,
        resumable: ResumableService | None = None,
        max_upload_size: int = 0,
    ) -> None:
        """``public_url``: a validated ``scheme://host[:port][/prefix]`` that
        links are built on instead of the origin the request was sent to.
        ``resumable``: the tus endpoints' service (``None``: they answer 404)."""
        self._upload = upload
        self._check = check
        self._download = download
        self.throttles = throttles
        self._public_url = public_url
        # Check bodies and download headers depend only on the (immutable)
        # file record: made once per record, not once per request.
        self._check_bodies: IdentityMemo[StoredFile, bytes] = IdentityMemo(_check_body)
        self._download_headers: IdentityMemo[StoredFile, list[tuple[str, str]]] = IdentityMemo(_download_headers)
        self._tus = TusEndpoints(resumable, max_upload_size, self.url, self.upload_answer)

    def session(self) -> Handler:
        """The handler of one new connection."""
        return Session(self).handle

    async def handle(self, session: Session, exchange: Exchange) -> None:
        request = exchange.request
        try:
            match = ROUTES.match(request.method, request.path)
        except NoRoute:
            exchange.respond_error(404, "no such endpoint")
            return
        except MethodNotAllowed as exc:
            exchange.respond_error(405, f"method {request.method} is not allowed here",
                                   [("Allow", ", ".join(exc.allowed))])
            return
        try:
            name = match.route.name
            if name == "check":
                await self.check(exchange, match.value)
            elif name == "download":
                await self.download(exchange, match.value, session)
            elif name == "upload":
                await self.upload(exchange, unquote(match.value) or None, session)
            elif name == "tus":
                await self._tus.handle(exchange, match.value, session.upload)
            else:
                exchange.respond_json(200, {"status": 200, "message": "ok"})
        except DomainError as exc:
            status, payload = domain_error_payload(exc)
            exchange.respond_json(status, payload)

    def url(self, route: str, exchange: Exchange, value: str) -> str:
        """The public link to ``route``: on ``--public-url`` when set, else on
        the origin the request was addressed to."""
        return ROUTES.url(route, self._public_url or exchange.origin, value)

    # -- endpoints --------------------------------------------------------------------

    async def upload(self, exchange: Exchange, path_name: str | None, session: Session) -> None:
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
        stored = await self._upload.upload(
            UploadRequest(name=name, content_type=request.headers.get("content-type"),
                          declared_size=request.content_length),
            exchange,
            session.upload(),
        )
        log.info("stored %s %r (%d bytes, sha256 %s)", stored.id, stored.name, stored.size, stored.sha256)
        exchange.respond_json(201, self.upload_answer(201, exchange, stored),
                              [("Location", self.url("download", exchange, stored.id))])

    def upload_answer(self, status: int, exchange: Exchange, stored: StoredFile) -> dict[str, object]:
        """The JSON of a stored upload: a plain upload's 201, and the ``GET``
        of a finished resumable one (``adapters/http/tus.py``)."""
        return {
            "status": status,
            "fileisuploaded": stored.name,
            "linkforcheck": self.url("check", exchange, stored.id),
            "linkfordownload": self.url("download", exchange, stored.id),
            "id": stored.id,
            "size": stored.size,
            "sha256": stored.sha256,
        }

    async def check(self, exchange: Exchange, file_id: str) -> None:
        stored = await self._check.check(file_id)
        exchange.respond(200, JSON_TYPE, self._check_bodies.get(stored.id, stored))

    async def download(self, exchange: Exchange, file_id: str, session: Session) -> None:
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
            await self._download.send(opened, start, end - start, exchange, session.download())
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
