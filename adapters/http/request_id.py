"""Request ids (``X-Request-Id``): one per request, on its answer, in its
access log line and in every log record made while it is handled.

A client (or a proxy in front of us) may send its own id, to follow one
request through several services: it is kept when it is sane, at most
``MAX_LENGTH`` characters of printable ASCII without space, quote, comma or
semicolon (RFC 9110 token characters, plus ``/``, ``=`` and ``:`` of base64
and trace ids), so it can go into a header, a text log line and a JSON
string as it is. Anything else (too long, several values, control
characters, non-ASCII) is replaced by a fresh id, never cleaned up: half of
a hostile value is still hostile.

Fresh ids are 16 hex digits: a random per-process prefix and a counter.
``os.urandom`` per request costs a system call on the hot path; a counter
costs an addition, and the prefix (new for each process, drawn after a
fork, and again when the counter wraps) keeps workers' and restarts' ids
apart. Ids are labels, not secrets: being able to guess the next one grants
nothing.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Callable

HEADER = "X-Request-Id"
MAX_LENGTH = 128
SANE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~/=:]{1," + str(MAX_LENGTH) + "}")
COUNTER_LIMIT = 1 << 32  # 8 hex digits

# The id of the request being handled by the current task ("" outside one):
# set by the connection around each exchange, read by the log formatters.
CURRENT: ContextVar[str] = ContextVar("uds_request_id", default="")


def is_sane(value: str) -> bool:
    """Whether a client's ``X-Request-Id`` may be kept as it is."""
    return SANE.fullmatch(value) is not None


class RequestIds:
    """Chooses the id of each request of one process (make it after a fork)."""

    def __init__(self, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random_bytes = random_bytes
        self._prefix = random_bytes(4).hex()
        self._count = 0

    def new(self) -> str:
        """A fresh id: 16 lowercase hex digits."""
        self._count += 1
        if self._count == COUNTER_LIMIT:
            self._prefix = self._random_bytes(4).hex()
            self._count = 1
        return f"{self._prefix}{self._count:08x}"

    def choose(self, offered: str | None) -> str:
        """The client's id (a request's ``X-Request-Id`` value) when it is
        sane, else a fresh one."""
        if offered is not None and SANE.fullmatch(offered) is not None:
            return offered
        return self.new()
