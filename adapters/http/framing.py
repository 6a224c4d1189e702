"""The server's half of HTTP/1.1 framing, sans-I/O: what the parser is to
requests, this is to responses. Requests and facts in, bytes and decisions
out; no socket, no clock.

Per connection it decides:
- whether the connection stays open after a response (RFC 9112 9.3): not if
  the client asked to close, the server is shutting down, or the request's
  body was not read to its end (its unread bytes would be taken for the next
  request);
- the ``Connection`` and ``Content-Length`` fields of each response head,
  and how many body bytes follow it (none for HEAD, 204 and 304);
- when to send ``100 Continue`` (RFC 9110 10.1.1): once, only when the body
  is about to be read and no final answer was started, so a refused upload
  gets its final status instead;
- the answer to a request that could not be parsed (it always closes).
"""

from __future__ import annotations

from typing import Iterable

from adapters.http.errors import error_body
from adapters.http.parser import Request
from adapters.http.request_id import HEADER as REQUEST_ID
from adapters.http.response import CONTINUE, JSON_HEADERS, build_head

BODILESS_STATUSES = (204, 304)


class ServerFraming:
    def __init__(self) -> None:
        self.keep_alive = True
        self.draining = False  # the server is shutting down: no request after the current one
        self._continue_sent = False

    def begin(self, request: Request) -> None:
        """A new request starts on this connection."""
        self.keep_alive = self.keep_alive and request.keep_alive and not self.draining
        self._continue_sent = False

    def interim(self, request: Request, response_started: bool) -> bytes:
        """Bytes to send before reading the request body: ``100 Continue`` the
        first time, if the client waits for it and no answer was started."""
        if request.expect_continue and not response_started and not self._continue_sent:
            self._continue_sent = True
            return CONTINUE
        return b""

    def head(self, request: Request, status: int, headers: Iterable[tuple[str, str]], length: int,
             body_done: bool) -> tuple[bytes, int]:
        """The head of a response with a ``length``-byte body, and how many
        body bytes must follow it on the wire. Decides keep-alive."""
        all_headers = list(headers)
        # RFC 9110 8.6: never in a 204; in a 304 only if it is the real size.
        if status != 204 and (status != 304 or length):
            all_headers.append(("Content-Length", str(length)))
        if not body_done or self.draining:
            # Unread body bytes would be taken for the next request: close.
            self.keep_alive = False
        if not self.keep_alive:
            all_headers.append(("Connection", "close"))
        elif request.version == "1.0":
            all_headers.append(("Connection", "keep-alive"))
        body_length = 0 if request.method == "HEAD" or status in BODILESS_STATUSES else length
        return build_head(status, all_headers), body_length

    def end(self, body_done: bool, response_done: bool) -> bool:
        """The exchange is over; True when the connection may carry the next
        request. A response cut short, or a body not read to its end, closes."""
        if not body_done or not response_done:
            self.keep_alive = False
        return self.keep_alive

    def refusal(self, status: int, message: str, request_id: str = "") -> bytes:
        """The whole answer to a request that could not be parsed (framing is
        lost: the connection closes after it), with ``X-Request-Id`` if given."""
        self.keep_alive = False
        body = error_body(status, message)
        return build_head(status, [
            *JSON_HEADERS,
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *([(REQUEST_ID, request_id)] if request_id else []),
        ]) + body

    def shut_down(self) -> None:
        """No new request after the current one."""
        self.draining = True
        self.keep_alive = False
