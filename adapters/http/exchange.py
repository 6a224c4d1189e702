"""One request and its response, as the application sees them.

An ``Exchange`` implements the ``ByteSource`` (request body) and ``ByteSink``
(response body) ports for the domain, and the ways to answer: a small
complete response (``respond``, ``respond_json``, ``respond_error``) or a
head (``start``) followed by streamed body bytes; ``extra_headers``, and
``X-Request-Id`` with the request's id, go on whichever answer it gets. It talks to its connection through the narrow
``Channel`` interface only.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, Iterable, Protocol

from adapters.http.clients import Client
from adapters.http.deadlines import StallTimeout
from adapters.http.errors import error_body
from adapters.http.framing import ServerFraming
from adapters.http.parser import END_OF_MESSAGE, Data, Event, ParseError, Request
from adapters.http.request_id import HEADER as REQUEST_ID
from adapters.http.response import JSON_HEADERS, json_bytes
from adapters.http.sender import Sent
from ports.storage import BlobReader


class ResponseStarted(RuntimeError):
    """A second response was attempted for one request."""


class Channel(Protocol):
    """What an exchange needs of its connection."""

    framing: ServerFraming
    sockname: tuple[str, int]

    @property
    def stall_timeout(self) -> float: ...

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer without waiting."""

    async def next_event(self, max_data: int, timeout: float, error: type[TimeoutError]) -> Event:
        """The request parser's next event, waiting for bytes that make progress."""

    async def send(self, data: bytes, sent: Sent) -> None:
        """Write, waiting while the peer is slow; ``sent(n)`` for what went."""

    async def send_file(self, reader: BlobReader, offset: int, count: int, sent: Sent) -> None:
        """Send a blob's bytes, zero-copy where possible; ``sent(n)`` for what went."""


UNKNOWN_CLIENT = Client("-", "-")


class Exchange:
    def __init__(self, channel: Channel, request: Request, client: Client = UNKNOWN_CLIENT,
                 request_id: str = "") -> None:
        """``client``: who sent ``request`` (see ``adapters/http/clients.py``);
        ``request_id``: its id, sent as ``X-Request-Id`` on the answer."""
        self.channel = channel
        self.request = request
        self.client = client
        self.request_id = request_id
        self.head_only = request.method == "HEAD"
        self.status = 0
        self.received = 0  # request body bytes read so far
        self.sent = 0
        self.route: str | None = None  # the route table's name of the route that handles it, once matched
        self.started = time.monotonic()
        self.body_done = not request.has_body
        self.response_started = False
        self.response_done = False
        self._expected = 0  # bytes of response body that follow the head (Content-Length, 0 for HEAD)
        # Headers every answer to this request carries, whichever way it is
        # made (CORS, set by the routes before they answer; also on the error
        # answers the connection makes when the handler fails).
        self.extra_headers: list[tuple[str, str]] = []

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` the request was addressed to: the scheme
        and host a trusted proxy forwarded, where it did; else ``http`` and
        the request's host (the socket's address when it names none)."""
        client = self.client
        host = client.host or self.request.host
        if not host:
            sockname = self.channel.sockname
            host = f"[{sockname[0]}]:{sockname[1]}" if ":" in sockname[0] else f"{sockname[0]}:{sockname[1]}"
        return f"{client.scheme or 'http'}://{host}"

    # -- request body (ByteSource) --------------------------------------------------

    async def read(self, max_bytes: int) -> bytes:
        if self.body_done:
            return b""
        channel = self.channel
        interim = channel.framing.interim(self.request, self.response_started)
        if interim:
            channel.write(interim)
        event = await channel.next_event(max_bytes, channel.stall_timeout, StallTimeout)
        if isinstance(event, Data):
            self.received += len(event.data)
            return event.data
        if event is END_OF_MESSAGE:
            self.body_done = True
            return b""
        raise ParseError(400, "unexpected event in request body")  # pragma: no cover - parser guarantees

    # -- response ---------------------------------------------------------------------

    def _head(self, status: int, headers: Iterable[tuple[str, str]], length: int) -> bytes:
        if self.response_started:
            raise ResponseStarted("response already started")
        self.response_started = True
        self.status = status
        if self.request_id:
            headers = [*headers, *self.extra_headers, (REQUEST_ID, self.request_id)]
        elif self.extra_headers:
            headers = [*headers, *self.extra_headers]
        head, self._expected = self.channel.framing.head(self.request, status, headers, length, self.body_done)
        return head

    def respond(self, status: int, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        """Send a complete response with a small in-memory body."""
        head = self._head(status, headers, len(body))
        if self._expected:
            self.channel.write(head + body)
            self.sent = len(body)
        else:
            self.channel.write(head)
        self.response_done = True

    def respond_json(self, status: int, payload: dict[str, object],
                     headers: Iterable[tuple[str, str]] = ()) -> None:
        self.respond(status, [*JSON_HEADERS, *headers], json_bytes(payload))

    def respond_error(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.respond(status, [*JSON_HEADERS, *headers], error_body(status, message))

    def start(self, status: int, headers: Iterable[tuple[str, str]], length: int) -> None:
        """Send the head of a response whose ``length``-byte body follows
        through ``write`` / ``send_blob`` (nothing follows for HEAD)."""
        self.channel.write(self._head(status, headers, length))
        if self._expected == 0:
            self.response_done = True

    async def write(self, data: bytes) -> None:
        if self.head_only:
            return
        self._check_length(len(data))
        await self.channel.send(data, self._account)

    async def send_blob(self, reader: BlobReader, offset: int, count: int) -> None:
        if self.head_only or count == 0:
            return
        self._check_length(count)
        await self.channel.send_file(reader, offset, count, self._account)

    def _check_length(self, n: int) -> None:
        if self.sent + n > self._expected:
            raise RuntimeError("response body longer than its Content-Length")

    def _account(self, n: int) -> None:
        """Count body bytes as the connection hands them over, also when a
        transfer is cut midway, so the access log shows how far it went and
        never claims what a vanished client did not get."""
        self.sent += n
        if self.sent == self._expected:
            self.response_done = True


Handler = Callable[[Exchange], Awaitable[None]]
