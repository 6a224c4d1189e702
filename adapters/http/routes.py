"""HTTP <-> domain: parse what a route needs from the request, call one
service, shape the JSON. The URL shapes live in ``ROUTES`` (the route table);
domain errors become answers through ``adapters/http/errors.py`` only.

Deleting: ``DELETE /download/<id>`` with ``X-Delete-Token``, or ``DELETE
/delete/<id>/<token>`` (the ``linkfordelete`` of the upload's answer, token
in the path). Only ``DELETE`` deletes: a link preview's ``GET`` never does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from adapters.http.exchange import Exchange, Handler
from adapters.http.errors import domain_error_headers, domain_error_payload
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
from domain.errors import DomainError
from domain.lifecycle import Uploaded, rfc3339
from domain.memo import IdentityMemo
from domain.model import StoredFile
from domain.services import CheckedFile, CheckService, DeleteService, DownloadService, UploadRequest, UploadService
from domain.terms import UploadTerms
from ports.ledger import Record
from ports.throttle import Throttle, ThrottlePolicy

log = logging.getLogger("uds.routes")

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("POST", "PUT")

ROUTES = Router([
    Route("upload", UPLOAD_METHODS, "/upload/{name}", bare=True),
    Route("check", READ_METHODS, "/check/{id}"),
    Route("download", (*READ_METHODS, "DELETE"), "/download/{id}"),
    Route("delete", ("DELETE",), "/delete/{id}"),  # /delete/<id>/<token>
    Route("health", READ_METHODS, "/healthz"),
])


JSON_TYPE = list(JSON_HEADERS)


def _check_body(checked: CheckedFile) -> bytes:
    stored, record = checked.file, checked.record
    return json_bytes({
        "status": 200,
        "file": stored.name,
        "message": "is ready to download",
        "id": stored.id,
        "size": stored.size,
        "sha256": stored.sha256,
        "created": stored.created_rfc3339,
        **_lifetime(record),
    })


def _lifetime(record: Record) -> dict[str, object]:
    """``expires`` (RFC 3339, ``null`` for never) and ``downloads_left``
    (``null`` when unlimited), in the upload and check answers."""
    return {"expires": rfc3339(record.expires), "downloads_left": record.downloads_left}


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
        delete: DeleteService,
        throttles: ThrottlePolicy,
        public_url: str | None = None,
    ) -> None:
        """``public_url``: a validated ``scheme://host[:port][/prefix]`` that
        links are built on instead of the origin the request was sent to."""
        self._upload = upload
        self._check = check
        self._download = download
        self._delete = delete
        self.throttles = throttles
        self._public_url = public_url
        # Download headers depend only on the (immutable) file record: made
        # once per record, not once per request. Check bodies also show the
        # ledger record, which changes: remade when it does.
        self._check_bodies = _CheckBodies()
        self._download_headers: IdentityMemo[StoredFile, list[tuple[str, str]]] = IdentityMemo(_download_headers)

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
            elif name == "download" and request.method == "DELETE":
                await self.delete(exchange, match.value.partition("/")[0], request.headers.get("x-delete-token"))
            elif name == "download":
                await self.download(exchange, match.value, session)
            elif name == "delete":
                file_id, _, token = match.value.partition("/")
                await self.delete(exchange, file_id, unquote(token))
            elif name == "upload":
                await self.upload(exchange, unquote(match.value) or None, session)
            else:
                exchange.respond_json(200, {"status": 200, "message": "ok"})
        except DomainError as exc:
            status, payload = domain_error_payload(exc)
            exchange.respond_json(status, payload, domain_error_headers(exc))

    def url(self, route: str, exchange: Exchange, value: str, *more: str) -> str:
        """The public link to ``route``: on ``--public-url`` when set, else on
        the origin the request was addressed to."""
        return ROUTES.url(route, self._public_url or exchange.origin, value, *more)

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
        headers = request.headers
        terms = UploadTerms.parse(headers.get("expires-in"), headers.get("max-days"), headers.get("max-downloads"))
        uploaded = await self._upload.upload(
            UploadRequest(name=name, content_type=request.headers.get("content-type"),
                          declared_size=request.content_length, terms=terms),
            exchange,
            session.upload(),
        )
        self._answer_upload(exchange, uploaded)

    def _answer_upload(self, exchange: Exchange, uploaded: Uploaded) -> None:
        """201 with the links; ``linkfordelete``, ``deletetoken`` and
        ``X-Url-Delete`` as transfer.sh has them."""
        stored = uploaded.file
        download_url = self.url("download", exchange, stored.id)
        delete_url = self.url("delete", exchange, stored.id, uploaded.delete_token)
        log.info("stored %s %r (%d bytes, sha256 %s, expires %s, downloads %s)", stored.id, stored.name,
                 stored.size, stored.sha256, rfc3339(uploaded.record.expires) or "never",
                 uploaded.record.max_downloads or "unlimited")
        exchange.respond_json(201, {
            "status": 201,
            "fileisuploaded": stored.name,
            "linkforcheck": self.url("check", exchange, stored.id),
            "linkfordownload": download_url,
            "linkfordelete": delete_url,
            "deletetoken": uploaded.delete_token,
            "id": stored.id,
            "size": stored.size,
            "sha256": stored.sha256,
            **_lifetime(uploaded.record),
        }, [("Location", download_url), ("X-Url-Delete", delete_url)])

    async def check(self, exchange: Exchange, file_id: str) -> None:
        checked = await self._check.check(file_id)
        exchange.respond(200, JSON_TYPE, self._check_bodies.get(checked))

    async def delete(self, exchange: Exchange, file_id: str, token: str | None) -> None:
        await self._delete.delete(file_id, token)
        exchange.respond(204, [])

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
            # Only a response that will deliver the last byte may count (a
            # HEAD, a 304 or a range short of the end never do): admitted
            # before answering, since it may be refused (503, or 404 if the
            # file's last download just ended).
            lease = None if exchange.head_only or end != stored.size else await self._download.reserve(opened)
            try:
                if (start, end) != (0, stored.size):
                    exchange.start(206, [*headers, ("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")],
                                   end - start)
                else:
                    exchange.start(200, headers, stored.size)
            except BaseException:
                if lease is not None:
                    lease.release()
                raise
            if exchange.head_only:
                return
            await self._download.send(opened, start, end - start, exchange, session.download(), lease)
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


class _CheckBodies:
    """The JSON of check answers, remade only when the blob's metadata (the
    same object while the blob is unchanged) or the ledger record (compared
    by value: the ledger returns a new object every time) changed. Bounded;
    the oldest entries go first."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._bodies: dict[str, tuple[StoredFile, Record, bytes]] = {}

    def get(self, checked: CheckedFile) -> bytes:
        file_id = checked.file.id
        known = self._bodies.get(file_id)
        if known is not None and known[0] is checked.file and known[1] == checked.record:
            return known[2]
        body = _check_body(checked)
        if known is None and len(self._bodies) >= self._limit:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[file_id] = (checked.file, checked.record, body)
        return body
