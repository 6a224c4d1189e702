"""The access log: one line per request, cheap enough for every request.

``logging`` costs about 15-20 us a record (record object, handler lock,
formatting, an unbuffered write each). Here a line is one f-string with a
timestamp cached per second, appended to a buffer that is written out once
per event-loop iteration (a busy loop answers many requests per iteration)
and at shutdown. Lines look like the service's other log lines (formatted by
``LogFormatter``, which main.py installs: UTC timestamps in ISO 8601 with
milliseconds and a ``Z``) and go to the same stream, standard error by
default. Whether to log at all follows the ``uds.access`` logger's level at
start-up.

The request target is the one field a client writes freely: a ``"``, a
backslash or an unprintable character in it is escaped as ``\\xHH`` (as
nginx does), so that it cannot end the quoted request early and make a
reader of the log take what follows for other fields or another line.

With ``--log-format json`` (``JsonAccessLog``, ``JsonLogFormatter``)
every line is one JSON object instead, access lines and other records alike
(keys in ``JSON_ACCESS_KEYS``). Each string a client wrote goes through the
JSON string encoder ``json.dumps`` uses with ``ensure_ascii`` (the C one),
so no value can end its string or the line; the rest of the line is ours.
An f-string around that encoder costs about what the text line does, where
``json.dumps`` of a dict would cost several times more on the hot path.

Lines made while a request is handled carry its id (``request_id``:
``adapters/http/request_id.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from json.encoder import encode_basestring_ascii as quoted
from typing import TextIO

from adapters.http.request_id import CURRENT

NAME = "uds.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"  # then milliseconds and "Z"
# The keys of a JSON access line, in order (a refused request's line has
# ``message`` instead of the request's fields it lacks).
JSON_ACCESS_KEYS = ("time", "level", "logger", "request_id", "method", "path", "version", "status", "bytes_in",
                    "bytes_out", "duration", "client", "user_agent", "via")
NEEDS_ESCAPE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"


def escape(text: str) -> str:
    """``text`` with ``"``, backslash and every character outside printable
    ASCII as ``\\xHH`` (``\\uHHHH`` beyond latin-1)."""
    return NEEDS_ESCAPE.sub(_escaped, text) if NEEDS_ESCAPE.search(text) else text


class LogFormatter(logging.Formatter):
    """The format of the service's other log lines, with the access log's
    timestamps: UTC, e.g. ``2026-12-02T15:38:40.123Z``."""

    default_time_format = STAMP_FORMAT
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__(FORMAT)

    @staticmethod
    def converter(seconds: float | None = None) -> time.struct_time:
        return time.gmtime(seconds)

    def format(self, record: logging.LogRecord) -> str:
        """The line, ending with ``request_id=<id>`` when made while a
        request was handled."""
        line = super().format(record)
        request_id = CURRENT.get()
        return f"{line} request_id={request_id}" if request_id else line


class JsonLogFormatter(LogFormatter):
    """One JSON object a record: ``time`` (as ``LogFormatter`` writes it),
    ``level``, ``logger``, ``request_id`` when made while a request was
    handled, ``message``, and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name}
        request_id = CURRENT.get()
        if request_id:
            entry["request_id"] = request_id
        entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True)


class AccessLog:
    """The text access log (``JsonAccessLog``: the JSON one)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        """``stream``: where lines go (standard error by default)."""
        self.enabled = logging.getLogger(NAME).isEnabledFor(logging.INFO)
        self._stream = stream
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""
        self._scheduled = False

    def _now(self) -> str:
        """The time now, e.g. ``2026-12-02T15:38:40.123Z`` (the second's part cached)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(STAMP_FORMAT, time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, message: str) -> None:
        """Queue one text line (``message`` without timestamp or newline)."""
        if self.enabled:
            self._lines.append(f"{self._now()} INFO {NAME}: {message}\n")
            if not self._scheduled:
                self._schedule()

    def _schedule(self) -> None:
        """Flush once the event loop turns (at once without a loop)."""
        self._scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop (tests, shutdown): write now
            self.flush()

    def request(self, peer: str, method: str, target: str, version: str, status: int, sent: int,
                seconds: float, via: str = "", request_id: str = "", received: int = 0,
                user_agent: str | None = None) -> None:
        """One request's line. ``peer``: the client's address (with port
        when it is the socket's); ``via``: the trusted proxy that forwarded
        it; ``sent`` and ``received``: body bytes; ``seconds``: from the
        request's head to the end of the answer. The text line has no
        ``received`` nor ``user_agent``."""
        if self.enabled:
            # On the hot path: one f-string, and no call beyond the clock's for a plain target.
            if NEEDS_ESCAPE.search(target):
                target = escape(target)
            line = (f'{self._now()} INFO {NAME}: {peer} "{method} {target} HTTP/{version}" {status} {sent} '
                    f'{seconds * 1000:.1f}ms request_id={request_id or "-"}')
            self._lines.append(f"{line} via {via}\n" if via else line + "\n")
            if not self._scheduled:
                self._schedule()

    def refusal(self, peer: str, status: int, message: str, request_id: str = "") -> None:
        """The line of a request refused before it could be read (``message``: why)."""
        self.write(f'{peer} "-" {status} 0 - {message} request_id={request_id or "-"}')

    def flush(self) -> None:
        self._scheduled = False
        if self._lines:
            stream = self._stream or sys.stderr
            try:
                stream.write("".join(self._lines))
                stream.flush()
            except (OSError, ValueError):  # a closed or broken log stream must not stop the server
                pass
            self._lines.clear()


class JsonAccessLog(AccessLog):
    """The access log with one JSON object a line (``JSON_ACCESS_KEYS``)."""

    def request(self, peer: str, method: str, target: str, version: str, status: int, sent: int,
                seconds: float, via: str = "", request_id: str = "", received: int = 0,
                user_agent: str | None = None) -> None:
        if self.enabled:
            self._lines.append(
                f'{{"time": "{self._now()}", "level": "INFO", "logger": "{NAME}", "request_id": {quoted(request_id)}, '
                f'"method": {quoted(method)}, "path": {quoted(target)}, "version": {quoted(version)}, '
                f'"status": {status}, "bytes_in": {received}, "bytes_out": {sent}, "duration": {seconds:.6f}, '
                f'"client": {quoted(peer)}, "user_agent": {"null" if user_agent is None else quoted(user_agent)}, '
                f'"via": {quoted(via) if via else "null"}}}\n')
            if not self._scheduled:
                self._schedule()

    def refusal(self, peer: str, status: int, message: str, request_id: str = "") -> None:
        if self.enabled:
            self._lines.append(
                f'{{"time": "{self._now()}", "level": "INFO", "logger": "{NAME}", "request_id": {quoted(request_id)}, '
                f'"status": {status}, "bytes_in": 0, "bytes_out": 0, "client": {quoted(peer)}, '
                f'"message": {quoted(message)}}}\n')
            if not self._scheduled:
                self._schedule()
