"""Sans-I/O response serialization: status lines, header blocks, JSON bodies."""

from __future__ import annotations

import json
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Iterable

# 460 is tus's (Checksum Mismatch), not in the IANA registry nor in HTTPStatus.
EXTRA_PHRASES = {460: "Checksum Mismatch"}
STATUS_LINES = {
    code: f"HTTP/1.1 {code} {phrase}\r\n".encode("ascii")
    for code, phrase in [*((status.value, status.phrase) for status in HTTPStatus), *EXTRA_PHRASES.items()]
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
SERVER = "upload-download-service"
# The headers of every JSON answer, errors included. nosniff because some
# bodies echo what the client sent (the id of a 404): a browser must never
# sniff one into HTML and run it.
JSON_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
)

Headers = Iterable[tuple[str, str]]


class HeaderInjection(ValueError):
    """A header value would have contained a line break or control character."""


CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check(value: str) -> str:
    if CONTROL.search(value):
        raise HeaderInjection(f"control character in header value {value!r}")
    return value


class DateHeader:
    """The ``Date`` value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def value(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True)
        return self._value


DATE = DateHeader()


def build_head(status: int, headers: Headers) -> bytes:
    """The status line and header block of a response, ``Date`` and ``Server``
    included. Header values are checked: no CR, LF or other control
    character can reach the wire, whatever the caller passes."""
    status_line = STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode("ascii")
    parts = [f"Date: {DATE.value()}\r\nServer: {SERVER}\r\n"]
    for name, value in headers:
        parts.append(f"{name}: {_check(value)}\r\n")
    parts.append("\r\n")
    return status_line + "".join(parts).encode("latin-1")


def json_bytes(payload: dict[str, Any]) -> bytes:
    """The UTF-8 JSON body of an answer, ending with a newline: printed by
    ``curl`` in a shell, the next prompt starts on a line of its own."""
    return json.dumps(payload, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8") + b"\n"


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)
