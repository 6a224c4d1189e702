"""A sans-I/O, streaming multipart/form-data parser (RFC 7578, RFC 2046 5.1):
body bytes in, events out, in the style of ``parser.RequestParser``.

How the upload route drives it: ``MultipartParser(boundary_of(content_type))``,
then ``feed`` each piece of the request body as it arrives (``feed_eof`` after
the last) and take ``next_event()`` until ``NEED_DATA`` or ``END``:
``PartStart`` opens a part, a file when ``filename`` is not None (open a
writer) or else a text field (keep it under a limit of the route's choosing);
``PartData`` is its content, to write; ``PART_END`` closes it (commit the
writer); ``END``: the final boundary was seen, the form is complete (what
follows is dropped; ``END`` repeats). On ``MultipartError`` (status 400)
abort the writer still open, so no part is ever stored half-written.

Promises: ``PartData`` carries every byte of a part's content exactly once,
in order, as soon as it cannot begin a delimiter; only a tail that may (less
than a delimiter, or an undecided delimiter line) is held back. Once
``next_event`` returns ``NEED_DATA`` the parser holds at most ``high_water``
bytes: memory is flat in the size of the files. Every byte is searched a
bounded number of times (linear time), and the events do not depend on how
the body is cut into pieces. Part sizes are the route's business, not ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Union

from adapters.http.headers import disposition_filename
from adapters.http.parameters import MalformedParameters, parameters


class MultipartError(Exception):
    """The body is not multipart/form-data within the parser's limits: answer
    ``status`` and stop reading parts; the parser stays in error."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class PartStart:
    """A part's header section was read. ``name`` is the form field name;
    ``filename`` comes from Content-Disposition (``filename*`` wins, see
    ``headers.disposition_filename``) and is ``None`` for a text field (it
    may be ``""`` when a browser sends an empty file input); ``content_type``
    is the part's Content-Type value, ``None`` when absent; ``headers`` has
    lowercase names and latin-1 decoded values."""

    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


class _Marker(Enum):
    NEED_DATA = "need data"
    PART_END = "part end"
    END = "end"


NEED_DATA, PART_END, END = _Marker.NEED_DATA, _Marker.PART_END, _Marker.END

Event = Union[PartStart, PartData, _Marker]


class _State(Enum):
    PREAMBLE = 1
    HEADERS = 2
    DATA = 3
    END = 4
    ERROR = 5


class _Found(Enum):
    NONE = 1  # no delimiter in the buffer
    OPEN = 2  # a delimiter match whose line is not complete yet
    PART = 3  # a delimiter line: a part follows
    CLOSE = 4  # the close delimiter line
    CONTENT = 5  # a delimiter match that is not a delimiter line


BCHARS = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=? ")
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Control characters other than HTAB may not appear in a part header line; a
# CR or LF left after splitting the section at CRLF is a bare one.
FORBIDDEN_IN_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
PADDING = frozenset(b" \t")
CR = 13


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data; boundary=...`` Content-Type
    value (token or quoted string; RFC 2046: 1 to 70 bchars, not ending with
    a space). Anything else raises ``MultipartError``. Linear time."""
    media_type, params = _parameters(content_type)
    if media_type != "multipart/form-data":
        raise MultipartError("Content-Type is not multipart/form-data")
    boundary = params.get("boundary")
    if boundary is None:
        raise MultipartError("multipart/form-data without a boundary parameter")
    return _checked_boundary(boundary.encode("latin-1"))


class MultipartParser:
    def __init__(self, boundary: bytes, *, max_part_header_bytes: int = 16 * 1024, max_parts: int = 1000,
                 max_preamble_bytes: int = 16 * 1024, max_padding: int = 256) -> None:
        """Limits: a part header section (without its blank line) longer than
        ``max_part_header_bytes``, more than ``max_parts`` parts, more than
        ``max_preamble_bytes`` before the first boundary, or more than
        ``max_padding`` spaces/tabs of transport padding after a boundary
        raise ``MultipartError``, as does an invalid ``boundary``."""
        self.max_part_header_bytes = max_part_header_bytes
        self.max_parts = max_parts
        self.max_preamble_bytes = max_preamble_bytes
        self.max_padding = max_padding
        self._delimiter = b"\r\n--" + _checked_boundary(boundary)
        # The body may open with the dash-boundary itself: a CRLF put before
        # it makes that first delimiter one like any other. ``_virtual``
        # counts how much of this CRLF is still in the buffer.
        self._buf = bytearray(b"\r\n")
        self._virtual = 2
        self._searched = 0  # no delimiter match starts before this buffer index
        self._padded = 0  # padding after an open match at _searched goes up to here
        self._state = _State.PREAMBLE
        self._eof = False
        self._parts = 0
        self._preamble = 0
        self._error: MultipartError | None = None

    # -- input ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add body bytes; after END (the epilogue) or an error they are dropped."""
        if self._state is not _State.END and self._state is not _State.ERROR:
            self._buf += data

    def feed_eof(self) -> None:
        """The body is complete: from now on a missing byte is an error."""
        self._eof = True

    @property
    def buffered(self) -> int:
        """Body bytes received and not yet turned into events."""
        return len(self._buf) - self._virtual

    @property
    def high_water(self) -> int:
        """The most ``buffered`` can be when ``next_event`` returns
        ``NEED_DATA``: a part header section and its blank line, or a whole
        delimiter line (delimiter, ``--``, padding, CR)."""
        return max(self.max_part_header_bytes, len(self._delimiter) + self.max_padding) + 3

    # -- output -----------------------------------------------------------------

    def next_event(self, max_data: int = 1 << 20) -> Event:
        """The next event; ``PartData`` carries 1 to ``max_data`` bytes."""
        if self._error is not None:
            raise MultipartError(self._error.message, self._error.status)
        try:
            if self._state is _State.DATA:
                return self._data(max_data)
            if self._state is _State.HEADERS:
                return self._headers()
            if self._state is _State.PREAMBLE:
                return self._preamble_part()
            return END
        except MultipartError as exc:
            self._state = _State.ERROR
            self._error = exc
            self._buf.clear()
            self._virtual = 0
            raise

    def _preamble_part(self) -> Event:
        safe, found, end = self._scan()
        self._preamble += self._consume(safe)
        if self._preamble > self.max_preamble_bytes:
            raise MultipartError("preamble before the first boundary is too long")
        if found is _Found.NONE or found is _Found.OPEN:
            if self._eof:
                raise MultipartError("no boundary in the body")
            return NEED_DATA
        self._consume(end - safe)
        if found is _Found.CLOSE:
            return self._finish()  # a form with no fields, as browsers send it
        self._open_part()
        return self._headers()

    def _headers(self) -> Event:
        buf = self._buf
        if buf[:2] == b"\r\n":
            raise MultipartError("part without a Content-Disposition header")
        end = buf.find(b"\r\n\r\n", self._searched)
        if end < 0:
            # The blank line may start in the last three bytes.
            if len(buf) - 3 > self.max_part_header_bytes:
                raise MultipartError("part header section is too large")
            if self._eof:
                raise MultipartError("the body ended inside a part header section")
            self._searched = max(0, len(buf) - 3)
            return NEED_DATA
        if end > self.max_part_header_bytes:
            raise MultipartError("part header section is too large")
        section = bytes(buf[:end])
        self._consume(end + 4)
        self._searched = 0
        self._state = _State.DATA
        return _part_start(section)

    def _data(self, max_data: int) -> Event:
        safe, found, end = self._scan()
        if safe:
            n = min(safe, max_data)
            data = bytes(self._buf[:n])
            self._consume(n)
            return PartData(data)
        if found is _Found.NONE or found is _Found.OPEN:
            if self._eof:
                raise MultipartError("the body ended before the final boundary")
            return NEED_DATA
        self._consume(end)
        if found is _Found.CLOSE:
            self._finish()
        else:
            self._open_part()
        return PART_END

    # -- delimiters ---------------------------------------------------------------

    def _scan(self) -> tuple[int, _Found, int]:
        """(safe, found, end): the first ``safe`` bytes are content for sure;
        then comes what ``found`` says, a delimiter line ending at ``end``
        for PART and CLOSE. With NONE the bytes from ``safe`` on may begin a
        delimiter: fewer than its length, starting with a CR."""
        buf, delimiter = self._buf, self._delimiter
        start = self._searched
        while True:
            at = buf.find(delimiter, start)
            if at < 0:
                cr = buf.find(b"\r", max(start, len(buf) - len(delimiter) + 1))
                self._searched = safe = len(buf) if cr < 0 else cr
                return safe, _Found.NONE, safe
            found, end = self._classify(at)
            if found is not _Found.CONTENT:
                self._searched = at
                return at, found, end
            start = at + 1  # a boundary never contains a CR: matches never overlap

    def _classify(self, at: int) -> tuple[_Found, int]:
        """Whether the delimiter match at ``at`` begins a delimiter line
        (RFC 2046: ``--`` for the close delimiter, transport padding, then
        CRLF, or the end of the body after a close delimiter), and where the
        line ends. Other bytes after the boundary make it content."""
        buf, n = self._buf, len(self._buf)
        undecided = (_Found.CONTENT if self._eof else _Found.OPEN), 0  # what is missing may never come
        i = at + len(self._delimiter)
        close = buf[i:i + 2] == b"--"
        if close:
            i += 2
        elif bytes(buf[i:i + 2]) in (b"", b"-"):
            return undecided
        padding = i
        if at == self._searched:  # the match left open last time: skip the padding seen then
            i = max(i, self._padded)
        self._padded = 0
        while i < n and buf[i] in PADDING:
            i += 1
        if i - padding > self.max_padding:
            raise MultipartError("transport padding after a boundary is too long")
        if i == n:
            if self._eof:
                return (_Found.CLOSE if close else _Found.CONTENT), n
            self._padded = i
            return _Found.OPEN, 0
        if buf[i:i + 2] == b"\r\n":
            return (_Found.CLOSE if close else _Found.PART), i + 2
        return undecided if i + 1 == n and buf[i] == CR else (_Found.CONTENT, 0)

    def _consume(self, n: int) -> int:
        """Drop ``n`` bytes from the front; how many of them were body bytes."""
        del self._buf[:n]
        self._searched = max(0, self._searched - n)
        self._padded = max(0, self._padded - n)
        virtual = min(n, self._virtual)
        self._virtual -= virtual
        return n - virtual

    def _open_part(self) -> None:
        self._parts += 1
        if self._parts > self.max_parts:
            raise MultipartError(f"more than {self.max_parts} parts")
        self._state = _State.HEADERS
        self._searched = 0

    def _finish(self) -> Event:
        self._state = _State.END
        self._buf.clear()
        self._searched = self._virtual = 0
        return END


def _part_start(section: bytes) -> PartStart:
    headers: dict[str, str] = {}
    for line in section.split(b"\r\n"):
        if FORBIDDEN_IN_HEADER.search(line):
            raise MultipartError("control character in a part header")
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or not TOKEN.match(raw_name):
            raise MultipartError("malformed part header line")
        name = raw_name.decode("ascii").lower()
        if name in headers:
            raise MultipartError(f"repeated part header {name}")
        headers[name] = raw_value.strip(b" \t").decode("latin-1")
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("part without a Content-Disposition header")
    kind, params = _parameters(disposition)
    field = params.get("name")
    if kind != "form-data" or field is None:
        raise MultipartError("part Content-Disposition is not form-data with a name")
    filename = None
    if "filename" in params or "filename*" in params:
        filename = disposition_filename(disposition)
        if filename is None:
            raise MultipartError("part file name cannot be decoded")
    return PartStart(_utf8(field), filename, headers.get("content-type"), headers)


def _parameters(value: str) -> tuple[str, dict[str, str]]:
    try:
        return parameters(value)
    except MalformedParameters as exc:
        raise MultipartError(str(exc)) from None


def _checked_boundary(boundary: bytes) -> bytes:
    if not 1 <= len(boundary) <= 70 or not BCHARS.issuperset(boundary) or boundary.endswith(b" "):
        raise MultipartError("invalid multipart boundary (1 to 70 characters from RFC 2046's set)")
    return boundary


def _utf8(text: str) -> str:
    """Browsers send raw UTF-8 in header values, read as latin-1: recover it."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
