"""HTTP <-> domain: parse what a route needs from the request, call one
service, answer (JSON, or the links as text for a client that prefers
``text/plain``; what the answers hold is in ``adapters/http/answers.py``).
The URL shapes live in ``ROUTES`` (the route table);
domain errors become answers through ``adapters/http/errors.py`` only; form
uploads are driven by ``adapters/http/forms.py``, CORS decided by
``adapters/http/cors.py``; the pages for people (``/``, ``/share/<id>``,
``/web/<name>``) are answered by ``adapters/http/site.py``.

Deleting: ``DELETE /download/<id>`` with ``X-Delete-Token``, or ``DELETE
/delete/<id>/<token>`` (the ``linkfordelete`` of the upload's answer, token
in the path). Only ``DELETE`` deletes: a link preview's ``GET`` never does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from adapters.http.admission import Admission
from adapters.http.cors import CorsPolicy
from adapters.http.exchange import Exchange, Handler
from adapters.http.errors import domain_error_headers, domain_error_payload, status_of
from adapters.http.forms import NoFileInForm, is_form, upload_form
from adapters.http.answers import JSON_TYPE, CheckBodies, UploadAnswers, download_headers
from adapters.http.headers import UNSATISFIABLE, byte_range, disposition_filename, etag_for, etag_matches
from adapters.http.headers import if_range_holds
from adapters.http.multipart import MultipartError
from adapters.http.openapi import OpenApiEndpoint
from adapters.http.operations import Operations
from adapters.http.routing import MethodNotAllowed, NoRoute, Route, Router
from adapters.http.site import Site
from adapters.http.static import StaticFiles
from adapters.http.tus import METHODS as TUS_METHODS
from adapters.http.tus import TusEndpoints
from domain.errors import DomainError
from domain.lifecycle import rfc3339
from domain.memo import IdentityMemo
from domain.model import StoredFile
from domain.resumable import ResumableService
from domain.services import CheckService, DeleteService, DownloadService, UploadRequest, UploadService
from domain.terms import UploadTerms
from ports.throttle import ConnectionThrottles, Throttle, ThrottlePolicy

log = logging.getLogger("uds.routes")

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("POST", "PUT")

ROUTES = Router([
    Route("upload", UPLOAD_METHODS, "/upload/{name...}", bare=True),
    Route("check", READ_METHODS, "/check/{id}"),
    Route("download", (*READ_METHODS, "DELETE"), "/download/{id}"),
    # The same bytes under a URL that ends with the file's name, for clients
    # that name the saved file after the URL (wget, curl -O).
    Route("download_named", READ_METHODS, "/download/{id}/{name...}"),
    Route("delete", ("DELETE",), "/delete/{id}/{token}"),
    Route("health", READ_METHODS, "/healthz"),
    Route("metrics", READ_METHODS, "/metrics"),  # unless --metrics-listen serves it elsewhere
    # transfer.sh's habit: `curl --upload-file f http://host/f`.
    # Bare: `PUT /` (no name) uploads too, and the OpenAPI document says so.
    Route("upload_at_root", ("PUT",), "/{name}", bare=True, fallback=True),
    Route("tus", TUS_METHODS, "/files/{id}", bare=True),
    # -- pages for people (issue 16: adapters/http/site.py) --
    # A fallback, so that `PUT /` stays the transfer.sh upload above.
    Route("home", READ_METHODS, "/", fallback=True),
    Route("share", READ_METHODS, "/share/{id}"),
    Route("static", READ_METHODS, "/web/{name}"),
    Route("openapi", READ_METHODS, "/openapi.json"),
])
PAGE_ROUTES = ("home", "share", "static")


@dataclass
class Session:
    """What one connection keeps between its requests: its own speed-limit
    budgets, made on first use, so a per-connection limit holds across
    keep-alive requests; and the client of the request being handled, whose
    per-client budgets a transfer draws on too."""

    routes: Routes
    throttles: ConnectionThrottles | None = None
    client: str = "-"  # Client.key

    async def handle(self, exchange: Exchange) -> None:
        self.client = exchange.client.key
        await self.routes.handle(self, exchange)

    def _throttles(self) -> ConnectionThrottles:
        if self.throttles is None:
            self.throttles = self.routes.throttles.connection()
        return self.throttles

    def upload(self) -> Throttle:
        return self._throttles().upload(self.client)

    def download(self) -> Throttle:
        return self._throttles().download(self.client)


class Routes:
    def __init__(
        self,
        upload: UploadService,
        check: CheckService,
        download: DownloadService,
        delete: DeleteService,
        throttles: ThrottlePolicy,
        public_url: str | None = None,
        cors: CorsPolicy | None = None,
        admission: Admission | None = None,
        resumable: ResumableService | None = None,
        max_upload_size: int = 0,
        static: StaticFiles | None = None,
        operations: Operations | None = None,
        version: str = "",
    ) -> None:
        """``public_url``: a validated ``scheme://host[:port][/prefix]`` that
        links are built on instead of the origin the request was sent to.
        ``cors``: the origins whose pages may call the API (none by default).
        ``admission``: the request-level checks (rate, upload tokens), made
        after CORS, so a browser can read a 401 or a 429 too.
        ``resumable``: the tus endpoints' service (``None``: they answer 404).
        ``static``: the web page's files (none by default);
        ``operations``: ``/healthz`` and ``/metrics``;
        ``version``: the service's, in the OpenAPI document."""
        self._upload = upload
        self._check = check
        self._download = download
        self._delete = delete
        self.throttles = throttles
        self._public_url = public_url
        self._cors = cors or CorsPolicy(())
        self._admission = admission if admission is not None and admission.active else None
        # Check bodies and download headers depend only on the (immutable)
        # file record: made once per record, not once per request.
        self._check_bodies = CheckBodies()
        self._download_headers: IdentityMemo[StoredFile, list[tuple[str, str]]] = IdentityMemo(download_headers)
        self._site = Site(static or StaticFiles({}), check, self.url,
                          admission is not None and admission.uploads_need_token)
        self._answers = UploadAnswers(self.url, self._site.css)
        self._tus = TusEndpoints(resumable, max_upload_size, self.url, self._answers.finished)
        self._operations = operations or Operations()
        self._openapi = OpenApiEndpoint(ROUTES, version, public_url)

    def session(self) -> Handler:
        """The handler of one new connection."""
        return Session(self).handle

    async def handle(self, session: Session, exchange: Exchange) -> None:
        request = exchange.request
        if self._cors.enabled and self._cross_origin(exchange):
            return
        if self._admission is not None and self._admission.refuse(exchange):
            return
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
            name = exchange.route = match.route.name
            if name == "check":
                await self.check(exchange, match.value)
            elif name == "download" and request.method == "DELETE":
                await self.delete(exchange, match.value, request.headers.get("x-delete-token"))
            elif name in ("download", "download_named"):
                await self.download(exchange, match.value, session)
            elif name == "delete":
                file_id, token = match.values
                await self.delete(exchange, file_id, unquote(token))
            elif name in ("upload", "upload_at_root"):
                await self.upload(exchange, unquote(match.value) or None, session)
            elif name == "tus":
                await self._tus.handle(exchange, match.value, session.upload)
            elif name in PAGE_ROUTES:
                await self._site.handle(exchange, name, match.value)
            elif name == "openapi":
                self._openapi.handle(exchange)
            else:
                await self._operations.answer(name, exchange)
        except DomainError as exc:
            status, payload = domain_error_payload(exc)
            exchange.respond_json(status, payload, domain_error_headers(exc))

    def _cross_origin(self, exchange: Exchange) -> bool:
        """For a request from an allowed origin: answer it if it is a
        preflight (True), else mark every answer it will get with the CORS
        headers. Other origins get no CORS header (False: route as usual)."""
        request = exchange.request
        allow_origin = self._cors.allowed_origin(request.headers)
        if allow_origin is None:
            return False
        if self._cors.is_preflight(request):
            try:
                methods = ROUTES.methods(request.path)
            except NoRoute:
                exchange.extra_headers = self._cors.actual_headers(allow_origin)
                exchange.respond_error(404, "no such endpoint")
                return True
            exchange.respond(204, self._cors.preflight_headers(allow_origin, request.headers, methods))
            return True
        exchange.extra_headers = self._cors.actual_headers(allow_origin)
        return False

    def url(self, route: str, exchange: Exchange, *values: str) -> str:
        """The public link to ``route``: on ``--public-url`` when set, else on
        the origin the request was addressed to."""
        return ROUTES.url(route, self._public_url or exchange.origin, *values)

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
        content_type = request.headers.get("content-type")
        headers = request.headers
        terms = UploadTerms.parse(headers.get("expires-in"), headers.get("max-days"), headers.get("max-downloads"))
        if request.method == "POST" and is_form(content_type):
            # A browser posting the page's form reads a refusal as a page too.
            refuse = self._answers.refuse
            try:
                files = await upload_form(exchange, self._upload, session.upload(), terms)
            except MultipartError as exc:
                refuse(exchange, exc.status, f"malformed multipart/form-data: {exc.message}")
                return
            except NoFileInForm:
                refuse(exchange, 400, "the form has no file part (a part with a filename)")
                return
            except DomainError as exc:
                refuse(exchange, status_of(exc), str(exc), domain_error_headers(exc))
                return
        else:
            disposition = request.headers.get("content-disposition")
            name = (disposition_filename(disposition) if disposition else None) or path_name
            self._upload.precheck(request.content_length)
            files = [await self._upload.upload(
                UploadRequest(name=name, content_type=content_type, declared_size=request.content_length,
                              terms=terms, client=exchange.client.address),
                exchange,
                session.upload(),
            )]
        for uploaded in files:
            stored = uploaded.file
            log.info("stored %s %r (%d bytes, sha256 %s, expires %s, downloads %s)", stored.id, stored.name,
                     stored.size, stored.sha256, rfc3339(uploaded.record.expires) or "never",
                     uploaded.record.max_downloads or "unlimited")
        self._answers.respond(exchange, files)

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
            if range_header is not None and if_range_holds(request_headers.get("if-range"), etag,
                                                           dict(headers)["Last-Modified"]):
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
