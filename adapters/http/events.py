"""What the request parser produces: events and errors (sans-I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union


class ParseError(Exception):
    """The request cannot be parsed; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class IncompleteMessage(ConnectionError):
    """The peer closed the connection in the middle of a request."""


@dataclass(slots=True)
class Request:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    content_length: int | None
    chunked: bool
    keep_alive: bool
    expect_continue: bool
    # Where the request was addressed, checked against RFC 3986: the
    # authority of an absolute-form target, else the Host header; ``None``
    # only for an HTTP/1.0 request without either.
    host: str | None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


@dataclass(slots=True)
class Data:
    data: bytes


class _Marker(Enum):
    NEED_DATA = "need data"
    END_OF_MESSAGE = "end of message"
    CLOSED = "closed"


NEED_DATA = _Marker.NEED_DATA
"""More bytes are needed before the next event."""
END_OF_MESSAGE = _Marker.END_OF_MESSAGE
"""The current request's body is complete."""
CLOSED = _Marker.CLOSED
"""The peer closed the connection cleanly between requests."""

Event = Union[Request, Data, _Marker]
