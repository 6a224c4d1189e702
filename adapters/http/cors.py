"""Cross-origin resource sharing (the Fetch standard's CORS protocol), sans-I/O:
which headers let a web page on another origin call the API.

A request from a listed origin (``--cors-origin``, or any with ``*``) gets
``Access-Control-Allow-Origin`` on every answer, errors included, so the page
can read why an upload failed; a preflight (``OPTIONS`` with
``Access-Control-Request-Method``) is answered ``204`` with the methods the
path has and the request headers we read. An origin not listed gets no CORS
header at all (its browser then refuses to hand over the answer), and with no
origin configured the service sends none.
"""

from __future__ import annotations

from typing import Mapping

from adapters.http.parser import Request

# Request headers a page may send (beyond the CORS-safelisted ones): what the
# upload, download and (issue 14) lifecycle and authentication routes read.
# Later features (tus) add theirs here.
ALLOWED_REQUEST_HEADERS = {
    name.lower(): name for name in (
        "Content-Type", "Content-Disposition", "Accept", "Range", "If-Range", "If-None-Match",
        "Expires-In", "Max-Downloads", "Max-Days", "X-Delete-Token", "Authorization", "X-Request-Id",
    )
}
# Response headers a page may read (beyond the safelisted Content-Type,
# Content-Length, ...). Issue 14 adds X-Url-Delete; tus its own.
EXPOSED_HEADERS = ("Location", "X-Url-Delete", "Content-Disposition", "Content-Range", "ETag", "Retry-After",
                   "X-Request-Id")
# How long a browser may cache a preflight answer, seconds (Chromium caps it at 7200).
MAX_AGE = 7200
# More requested header names than this are not looked at: bounded work.
MAX_REQUESTED_HEADERS = 64


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        """``origins``: lowercase ``scheme://host[:port]`` values, or ``*``
        (as ``config.parse_origin`` makes them); empty turns CORS off."""
        self._any = "*" in origins
        self._origins = frozenset(origins)
        self._expose = ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS))

    @property
    def enabled(self) -> bool:
        return bool(self._origins)

    def allowed_origin(self, headers: Mapping[str, str]) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request with these
        headers: ``*`` when any origin is allowed, the request's ``Origin``
        when it is listed (compared case-insensitively), else ``None``."""
        if not self._origins:
            return None
        origin = headers.get("origin")
        if origin is None:
            return None
        if self._any:
            return "*"
        return origin if origin.lower() in self._origins else None

    @staticmethod
    def is_preflight(request: Request) -> bool:
        return request.method == "OPTIONS" and "access-control-request-method" in request.headers

    def actual_headers(self, allow_origin: str) -> list[tuple[str, str]]:
        """The headers of every answer to an allowed cross-origin request."""
        return [("Access-Control-Allow-Origin", allow_origin), ("Vary", "Origin"), self._expose]

    def preflight_headers(self, allow_origin: str, headers: Mapping[str, str],
                          methods: tuple[str, ...]) -> list[tuple[str, str]]:
        """The headers of the ``204`` to a preflight on a path with these
        ``methods``. Only the requested headers we read are allowed (the
        answer then varies with the request's headers too)."""
        answer = [
            ("Access-Control-Allow-Origin", allow_origin),
            ("Access-Control-Allow-Methods", ", ".join(methods)),
            ("Access-Control-Max-Age", str(MAX_AGE)),
            ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        allowed = _allowed_request_headers(headers.get("access-control-request-headers", ""))
        if allowed:
            answer.append(("Access-Control-Allow-Headers", ", ".join(allowed)))
        return answer


def _allowed_request_headers(requested: str) -> list[str]:
    """The names in an ``Access-Control-Request-Headers`` value that we
    allow, each once, in the request's order."""
    allowed: list[str] = []
    for count, name in enumerate(requested.split(",", MAX_REQUESTED_HEADERS)):
        if count == MAX_REQUESTED_HEADERS:
            break
        known = ALLOWED_REQUEST_HEADERS.get(name.strip().lower())
        if known is not None and known not in allowed:
            allowed.append(known)
    return allowed
