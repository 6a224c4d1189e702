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
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import TextIO

NAME = "uds.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"  # then milliseconds and "Z"
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


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.enabled = logging.getLogger(NAME).isEnabledFor(logging.INFO)
        self._stream = stream
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""
        self._scheduled = False

    def _prefix(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(STAMP_FORMAT, time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z INFO {NAME}: "

    def write(self, message: str) -> None:
        """Queue one line (``message`` without timestamp or newline)."""
        if not self.enabled:
            return
        self._lines.append(self._prefix() + message + "\n")
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (tests, shutdown): write now
                self.flush()

    def request(self, peer: str, method: str, target: str, version: str, status: int, sent: int,
                seconds: float, via: str = "") -> None:
        """One request's line; ``via``: the trusted proxy that forwarded it
        (``peer`` is then the client it named)."""
        if self.enabled:
            self.write(f'{peer} "{method} {escape(target)} HTTP/{version}" {status} {sent} {seconds * 1000:.1f}ms'
                       + (f" via {via}" if via else ""))

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
