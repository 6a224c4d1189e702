"""The access log: one line per request, cheap enough for every request.

``logging`` costs about 15-20 us a record (record object, handler lock,
formatting, an unbuffered write each). Here a line is one f-string with a
timestamp cached per second, appended to a buffer that is written out once
per event-loop iteration (a busy loop answers many requests per iteration)
and at shutdown. Lines look like the service's other log lines and go to the
same stream, standard error by default. Whether to log at all follows the
``uds.access`` logger's level at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

NAME = "uds.access"


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
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d} INFO {NAME}: "

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
                seconds: float) -> None:
        if self.enabled:
            self.write(f'{peer} "{method} {target} HTTP/{version}" {status} {sent} {seconds * 1000:.1f}ms')

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
