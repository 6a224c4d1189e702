"""The endpoints for people rather than programs (issue 16):

- ``GET /``: the web page (``web/index.html``) for a browser, whose
  ``Accept`` prefers ``text/html``; a short plain-text usage on this
  service's own URLs for ``curl`` and everything else (``*/*``,
  ``text/plain``, no ``Accept``). ``Vary: Accept``.
- ``GET /share/<id>``: the landing page of a shared file, from the check
  service (the file is never opened: viewing it is never a download); an
  HTML error page (404 for an unknown, expired, used-up or deleted id) when
  the check fails, with the status ``adapters/http/errors.py`` gives.
- ``GET /web/<name>``: the page's files (``adapters/http/static.py``).

``HEAD`` answers each with the same head and no body. Every HTML answer
carries ``PAGE_SECURITY``; the share and error pages are ``no-store``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Iterable
from urllib.parse import quote

from adapters.http.answers import HTML_PAGE, TEXT_PLAIN, Link
from adapters.http.errors import domain_error_headers, status_of
from adapters.http.exchange import Exchange
from adapters.http.headers import etag_matches
from adapters.http.negotiation import choose
from adapters.http.pages import ShareLinks, error_page, share_page, usage_text
from adapters.http.static import NOSNIFF, REVALIDATE, StaticFile, StaticFiles
from domain.errors import DomainError
from domain.services import CheckService

# Plain text first: the default for curl's */*, no Accept, and ties.
HOME_TYPES = (TEXT_PLAIN, "text/html")
VARY = ("Vary", "Accept")


class Site:
    def __init__(self, static: StaticFiles, check: CheckService, link: Link, upload_auth: bool = False) -> None:
        """``link`` builds public URLs (on ``--public-url`` or the request's
        origin); ``upload_auth``: uploads need a bearer token (the usage
        says so)."""
        self._static = static
        self._check = check
        self._link = link
        self._upload_auth = upload_auth
        self.css = static.get("app.css") is not None

    async def handle(self, exchange: Exchange, route: str, value: str) -> None:
        if route == "home":
            self.home(exchange)
        elif route == "share":
            await self.share(exchange, value)
        else:
            self.static_file(exchange, value)

    def home(self, exchange: Exchange) -> None:
        index = self._static.get("index.html")
        if index is not None and choose(exchange.request.headers.get("accept"), HOME_TYPES) != TEXT_PLAIN:
            self._send(exchange, index, [VARY])
            return
        exchange.respond(200, [("Content-Type", TEXT_PLAIN), NOSNIFF, REVALIDATE, VARY], self.usage(exchange))

    def usage(self, exchange: Exchange) -> bytes:
        def link(route: str, *placeholders: str) -> str:
            url = self._link(route, exchange, *placeholders)
            for placeholder in placeholders:  # quoted in the URL: "<id>" became "%3Cid%3E"
                url = url.replace(quote(placeholder, safe=""), placeholder)
            return url
        return usage_text({
            "home": link("home"),
            "upload": link("upload"),
            "check": link("check", "<id>"),
            "download": link("download", "<id>"),
            "share": link("share", "<id>"),
            "delete": link("delete", "<id>", "<token>"),
            "tus": link("tus"),
        }, self._upload_auth)

    async def share(self, exchange: Exchange, file_id: str) -> None:
        home = self._link("home", exchange)
        try:
            checked = await self._check.check(file_id)
        except DomainError as exc:
            status = status_of(exc)
            if status == 404:
                title, message = "Nothing here", ("This link is unknown, or the file it shared has expired, "
                                                  "was downloaded as many times as allowed, or was deleted.")
            else:
                title, message = HTTPStatus(status).phrase, "The file cannot be shown now. Try again later."
            exchange.respond(status, [*HTML_PAGE, *domain_error_headers(exc)],
                             error_page(status, title, message, home, self.css))
            return
        links = ShareLinks(self._link("download", exchange, file_id),
                           self._link("download_named", exchange, file_id, checked.file.name))
        exchange.respond(200, HTML_PAGE, share_page(checked, links, self.css))

    def static_file(self, exchange: Exchange, name: str) -> None:
        found = self._static.get(name)
        if found is None:
            exchange.respond_error(404, "no such file")
            return
        self._send(exchange, found)

    @staticmethod
    def _send(exchange: Exchange, found: StaticFile, extra: Iterable[tuple[str, str]] = ()) -> None:
        if_none_match = exchange.request.headers.get("if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, found.etag):
            exchange.respond(304, [*found.headers, *extra])
            return
        exchange.respond(200, [*found.headers, *extra], found.body)
