"""A sans-I/O HTTP/1.1 request parser: bytes in, events out.

Nothing here touches a socket or a clock, so every malformed request,
pipelining case and chunked-encoding edge is a few lines of unit test. The
parser reads one request at a time: ``next_event`` yields a ``Request``, then
``Data`` events for its body, then ``END_OF_MESSAGE``; after that it parses
the next pipelined request from whatever bytes follow. Every violation raises
``ParseError`` carrying the status code to answer with; after a
``ParseError`` the framing is lost and the connection must be closed.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Union

from adapters.http.target import InvalidTarget, checked_authority, split_target


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


class _State(Enum):
    HEAD = 1
    LENGTH = 2
    CHUNK_SIZE = 3
    CHUNK_DATA = 4
    CHUNK_END = 5
    TRAILERS = 6
    ERROR = 7


TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Control characters other than HTAB, CR and LF may not appear anywhere in a
# request head; CR only as part of a line ending (checked per line).
FORBIDDEN_IN_HEAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TARGET_CHARS = re.compile(rb"[\x21-\x7e]+\Z")
VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])\Z")
# RFC 9112 2.3: one digit each. HTTP/1.10 is malformed (400), not another version.
LONG_VERSION = re.compile(rb"HTTP/[0-9]+\.[0-9]+\Z")
REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([0-9])\Z")
# Name and value of each field line, leading whitespace dropped; trailing
# whitespace is stripped afterwards, in Python. Not ``(.*?)[ \t]*$``: a lazy
# group before optional whitespace and an anchor retries the whitespace at
# every position of a run of it, which is quadratic (seconds for one 64 KiB
# header of spaces). Greedy ``.*`` up to the end of the line never backtracks.
HEADER_FIELD = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*)$", re.MULTILINE)
HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")
# What may follow the chunk size on its line (RFC 9112 7.1.1): extensions
#   *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
# and optional whitespace. Possessive quantifiers: the line is matched in
# one pass, never re-tried from inside a run of whitespace or a quoted string.
CHUNK_EXT = re.compile(
    rb"(?:[ \t]*+;[ \t]*+[!#$%&'*+\-.^_`|~0-9A-Za-z]++"
    rb"(?:[ \t]*+=[ \t]*+(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]++"
    rb'|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+"))?+)*+'
    rb"[ \t]*+\Z"
)
CRLF = frozenset(b"\r\n")
MAX_CHUNK_SIZE_DIGITS = 16


class RequestParser:
    def __init__(
        self,
        *,
        max_request_line: int = 8 * 1024,
        max_header_bytes: int = 64 * 1024,
        max_headers: int = 100,
        max_chunk_line: int = 4 * 1024,
    ) -> None:
        """Limits in bytes: a longer request line is refused with 414, a larger
        header section (or trailer section) or more header fields with 431, a
        chunk-size line (with extensions) longer than ``max_chunk_line`` with 400."""
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_chunk_line = max_chunk_line
        self._buf = bytearray()
        # Pieces of a Content-Length body, kept exactly as received: they are
        # handed on without a copy. Only used while ``_buf`` is empty.
        self._body: deque[bytes] = deque()
        self._body_offset = 0  # bytes of ``_body[0]`` already handed on
        self._body_bytes = 0
        self._eof = False
        self._state = _State.HEAD
        self._remaining = 0
        self._trailer_bytes = 0
        # How far the head in ``_buf`` was already searched for its end: a
        # head trickled in byte by byte costs linear, not quadratic, time.
        self._scanned = 0

    # -- input ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._state is _State.LENGTH and self._remaining and not self._buf:
            self._body.append(data)
            self._body_bytes += len(data)
        else:
            self._buf += data

    def feed_eof(self) -> None:
        self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes received and not yet turned into events."""
        return len(self._buf) + self._body_bytes

    @property
    def at_message_start(self) -> bool:
        """True between requests (no request is partly parsed)."""
        return self._state is _State.HEAD

    @property
    def has_partial_head(self) -> bool:
        """True when bytes of a next request head have arrived but not all
        (blank lines before a request line do not count)."""
        if self._state is not _State.HEAD:
            return False
        buf = self._buf
        for i in range(len(buf)):
            if buf[i] not in CRLF:
                return True
        return False

    # -- output -----------------------------------------------------------------

    def next_event(self, max_data: int = 1 << 20) -> Event:
        """The next event; ``Data`` events carry at most ``max_data`` bytes."""
        try:
            state = self._state
            if state is _State.HEAD:
                return self._head()
            if state is _State.LENGTH:
                return self._length_data(max_data)
            if state is _State.ERROR:
                raise ParseError(400, "request framing was lost")
            return self._chunked(max_data)
        except ParseError:
            self._state = _State.ERROR
            raise

    # -- request head ---------------------------------------------------------------

    def _head(self) -> Event:
        buf = self._buf
        # RFC 9112 2.2: ignore empty lines before a request line.
        if buf and buf[0] in CRLF:
            stripped = buf.lstrip(b"\r\n")
            del buf[:len(buf) - len(stripped)]
            self._scanned = 0
        end, consumed = _find_blank_line(buf, self._scanned)
        if end < 0:
            if self._eof:
                if buf:
                    raise ParseError(400, "connection closed in the middle of a request head")
                return CLOSED
            # The blank line may straddle what came so far and what comes next.
            self._scanned = max(0, len(buf) - 2)
            # A final CR may begin a line ending, which the limits do not
            # count: a head is refused at the same size however it arrives.
            pending_cr = 1 if buf.endswith(b"\r") else 0
            first_eol = buf.find(b"\n", 0, self.max_request_line + 2)
            if first_eol < 0:
                if len(buf) - pending_cr > self.max_request_line:
                    raise ParseError(414, "request line is too long")
            elif first_eol > self.max_request_line + 1:
                raise ParseError(414, "request line is too long")
            elif len(buf) - first_eol - 1 - pending_cr > self.max_header_bytes:
                raise ParseError(431, "request header section is too large")
            return NEED_DATA
        head = bytes(buf[:end])
        del buf[:consumed]
        self._scanned = 0
        return self._parse_head(head)

    def _parse_head(self, head: bytes) -> Request:
        if FORBIDDEN_IN_HEAD.search(head):
            raise ParseError(400, "control character in request head")
        first_eol = head.find(b"\n")
        request_line_bytes = len(head) if first_eol < 0 else first_eol
        if request_line_bytes - (head[request_line_bytes - 1:request_line_bytes] == b"\r") > self.max_request_line:
            raise ParseError(414, "request line is too long")
        if first_eol >= 0 and len(head) - first_eol > self.max_header_bytes:
            raise ParseError(431, "request header section is too large")
        if head.count(b"\n") > self.max_headers:
            raise ParseError(431, "too many header fields")
        fields = _fast_fields(head) or _checked_fields(head)
        return self._request(*fields)

    def _request(self, raw_method: bytes, raw_target: bytes, version: str,
                 pairs: list[tuple[str, str]]) -> Request:
        headers: dict[str, str] = {}
        content_lengths: list[str] = []
        for name, value in pairs:
            name = name.lower()
            if name == "content-length":
                content_lengths.append(value)
            elif name in headers:
                if name == "host":
                    raise ParseError(400, "more than one Host header")
                headers[name] += ", " + value
            else:
                headers[name] = value

        target = raw_target.decode("ascii")
        host = headers.get("host")
        if host is None and version == "1.1":
            raise ParseError(400, "missing Host header")
        try:
            path, query, authority = split_target(target, raw_method == b"OPTIONS")
            if host is not None:
                host = checked_authority(host, "Host header")
            if authority is not None:
                # RFC 9112 3.2.2: the target's authority wins over Host, which
                # must still be present (in HTTP/1.1) and valid.
                host = checked_authority(authority, "authority in the request target")
        except InvalidTarget as exc:
            raise ParseError(400, str(exc)) from None

        chunked = False
        content_length: int | None = None
        transfer_encoding = headers.get("transfer-encoding")
        if transfer_encoding is not None:
            if version == "1.0":
                raise ParseError(400, "Transfer-Encoding in an HTTP/1.0 request")
            if content_lengths:
                raise ParseError(400, "both Content-Length and Transfer-Encoding")
            codings = [c.strip().lower() for c in transfer_encoding.split(",")]
            if codings != ["chunked"]:
                raise ParseError(400, "unsupported transfer coding")
            chunked = True
        elif content_lengths:
            # RFC 9112 6.3 would accept repeated identical values ("5, 5",
            # or two fields); nginx refuses them, and so do we: a value one
            # hop reads as a list is a value another may read differently.
            if len(content_lengths) > 1:
                raise ParseError(400, "more than one Content-Length header")
            first = content_lengths[0]
            if not (first.isdigit() and first.isascii()):
                raise ParseError(400, "invalid Content-Length")
            if len(first) > 18:
                raise ParseError(413, "Content-Length is too large")
            content_length = int(first)
            headers["content-length"] = first

        connection = headers.get("connection")
        if connection is None:
            keep_alive = version == "1.1"
        elif version == "1.1":
            keep_alive = "close" not in _tokens(connection.lower())
        else:
            keep_alive = "keep-alive" in _tokens(connection.lower())
        expect = headers.get("expect")
        if expect is not None and expect.lower() != "100-continue":
            # RFC 9110 10.1.1; the body is not read and the connection closes.
            raise ParseError(417, "unsupported expectation")
        # RFC 9110 10.1.1: a 100-continue in an HTTP/1.0 request is ignored.
        expect_continue = expect is not None and version == "1.1"

        if chunked:
            self._state = _State.CHUNK_SIZE
        else:
            # A request without framing headers has an empty body (RFC 9112
            # 6.3); END_OF_MESSAGE follows at once.
            self._state = _State.LENGTH
            self._remaining = content_length or 0
        return Request(
            method=raw_method.decode("ascii"),
            target=target,
            path=path,
            query=query,
            version=version,
            headers=headers,
            content_length=content_length,
            chunked=chunked,
            keep_alive=keep_alive,
            expect_continue=expect_continue,
            host=host,
        )

    # -- bodies -------------------------------------------------------------------

    def _length_data(self, max_data: int) -> Event:
        if self._remaining == 0:
            self._state = _State.HEAD
            return END_OF_MESSAGE
        buf = self._buf
        if buf:
            n = min(self._remaining, len(buf), max_data)
            data = bytes(buf) if n == len(buf) else bytes(buf[:n])
            del buf[:n]
            self._remaining -= n
            return Data(data)
        if not self._body:
            if self._eof:
                raise IncompleteMessage("connection closed in the middle of a request body")
            return NEED_DATA
        piece = self._body[0]
        start = self._body_offset
        n = min(self._remaining, len(piece) - start, max_data)
        if start == 0 and n == len(piece):
            self._body.popleft()  # the common case: a whole received piece, no copy
            data = piece
        else:
            data = piece[start:start + n]
            if start + n == len(piece):
                self._body.popleft()
                self._body_offset = 0
            else:
                self._body_offset = start + n
        self._body_bytes -= n
        self._remaining -= n
        if self._remaining == 0 and self._body:
            # What follows the body (a pipelined request) goes back to the head buffer.
            if self._body_offset:
                buf += self._body.popleft()[self._body_offset:]
                self._body_offset = 0
            for rest in self._body:
                buf += rest
            self._body.clear()
            self._body_bytes = 0
        return Data(data)

    def _chunked(self, max_data: int) -> Event:
        buf = self._buf
        while True:
            state = self._state
            if state is _State.CHUNK_SIZE:
                eol = buf.find(b"\n", 0, self.max_chunk_line + 1)
                if eol < 0:
                    if len(buf) > self.max_chunk_line:
                        raise ParseError(400, "chunk size line is too long")
                    return self._need_body_data()
                line = _chunk_line(buf, eol)
                size_match = HEX_DIGITS.match(line)
                assert size_match is not None  # it matches the empty string
                size_end = size_match.end()
                if not 0 < size_end <= MAX_CHUNK_SIZE_DIGITS:
                    raise ParseError(400, "invalid chunk size")
                if not CHUNK_EXT.match(line, size_end):
                    raise ParseError(400, "malformed chunk extension")
                size = int(line[:size_end], 16)
                if size == 0:
                    self._state = _State.TRAILERS
                    self._trailer_bytes = 0
                else:
                    self._state = _State.CHUNK_DATA
                    self._remaining = size
            elif state is _State.CHUNK_DATA:
                if not buf:
                    return self._need_body_data()
                n = min(self._remaining, len(buf), max_data)
                data = bytes(buf) if n == len(buf) else bytes(buf[:n])
                del buf[:n]
                self._remaining -= n
                if self._remaining == 0:
                    self._state = _State.CHUNK_END
                return Data(data)
            elif state is _State.CHUNK_END:
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif len(buf) >= 2 or (buf and buf[:1] != b"\r"):
                    raise ParseError(400, "missing CRLF after chunk data")
                else:
                    return self._need_body_data()
                self._state = _State.CHUNK_SIZE
            else:  # TRAILERS: read and ignore trailer fields up to a blank line
                eol = buf.find(b"\n")
                if eol < 0:
                    if self._trailer_bytes + len(buf) > self.max_header_bytes:
                        raise ParseError(431, "trailer section is too large")
                    return self._need_body_data()
                self._trailer_bytes += eol + 1
                if self._trailer_bytes > self.max_header_bytes:
                    raise ParseError(431, "trailer section is too large")
                line = _chunk_line(buf, eol)
                if not line:
                    self._state = _State.HEAD
                    return END_OF_MESSAGE
                name, colon, _ = line.partition(b":")
                if not colon or not TOKEN.match(name) or b"\r" in line or FORBIDDEN_IN_HEAD.search(line):
                    raise ParseError(400, "malformed trailer field")

    def _need_body_data(self) -> Event:
        if self._eof:
            raise IncompleteMessage("connection closed in the middle of a chunked body")
        return NEED_DATA


RawFields = tuple[bytes, bytes, str, list[tuple[str, str]]]


def _fast_fields(head: bytes) -> RawFields | None:
    """Method, target, version and (name, value) pairs of a well-formed head
    with CRLF or LF line endings, from a few C-level calls; ``None`` for
    anything unusual, which ``_checked_fields`` then parses line by line (and
    refuses with the precise error). Both accept exactly the same heads; a
    unit test holds them to it."""
    text = head.replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]
    if b"\r" in text:
        return None
    first_eol = text.find(b"\n")
    match = REQUEST_LINE.match(text if first_eol < 0 else text[:first_eol])
    if match is None:
        return None
    raw_method, raw_target, minor = match.groups()
    if first_eol < 0:
        pairs: list[tuple[str, str]] = []
    else:
        block = text[first_eol + 1:].decode("latin-1")
        pairs = HEADER_FIELD.findall(block)
        if len(pairs) != block.count("\n") + 1:
            return None
        if " \n" in block or "\t\n" in block or block.endswith((" ", "\t")):
            pairs = [(name, value.rstrip(" \t")) for name, value in pairs]
    return raw_method, raw_target, "1.0" if minor == b"0" else "1.1", pairs


def _checked_fields(head: bytes) -> RawFields:
    """The same as ``_fast_fields``, line by line, raising the precise
    ``ParseError`` for whatever is malformed."""
    lines = head.split(b"\n")
    parts = _strip_cr(lines[0]).split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ParseError(400, "malformed request line")
    raw_method, raw_target, raw_version = parts
    if not TOKEN.match(raw_method):
        raise ParseError(400, "malformed method")
    if not TARGET_CHARS.match(raw_target):
        raise ParseError(400, "malformed request target")
    version_match = VERSION.match(raw_version)
    if version_match is None:
        if LONG_VERSION.match(raw_version):
            raise ParseError(400, "malformed HTTP version")
        if raw_version.startswith(b"HTTP/"):
            raise ParseError(505, "HTTP version not supported")
        raise ParseError(400, "malformed HTTP version")
    major, minor = version_match.groups()
    if major != b"1":
        raise ParseError(505, "HTTP version not supported")
    pairs = []
    for raw_line in lines[1:]:
        line = _strip_cr(raw_line)
        if line[:1] in (b" ", b"\t"):
            raise ParseError(400, "obsolete line folding in header")
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or not TOKEN.match(raw_name):
            raise ParseError(400, "malformed header field")
        pairs.append((raw_name.decode("ascii"), raw_value.strip(b" \t").decode("latin-1")))
    return raw_method, raw_target, "1.0" if minor == b"0" else "1.1", pairs


def _find_blank_line(buf: bytearray, start: int = 0) -> tuple[int, int]:
    """Where the head ends (its last line ending excluded) and where the bytes
    after the blank line begin, accepting CRLF and bare LF line endings;
    (-1, 0) while the head is incomplete. ``start``: bytes before it are
    known not to begin a blank line."""
    crlf = buf.find(b"\n\r\n", start)
    # A bare-LF blank line only matters before the CRLF one: bound its search,
    # or it would scan the whole body that arrived with the head.
    lf = buf.find(b"\n\n", start) if crlf < 0 else buf.find(b"\n\n", start, crlf + 1)
    if crlf < 0 and lf < 0:
        return -1, 0
    if lf < 0 or (0 <= crlf < lf):
        return crlf, crlf + 3
    return lf, lf + 2


def _chunk_line(buf: bytearray, eol: int) -> bytes:
    """The line of chunked framing that ends with the LF at ``eol``, taken
    from ``buf`` without its CRLF. RFC 9112 2.2 allows a bare LF as a line
    ending in the head only; in chunked framing, where lenient line endings
    are a known request-smuggling vector, it is a ``ParseError``."""
    if eol == 0 or buf[eol - 1] != 0x0D:
        raise ParseError(400, "chunked framing line without CRLF")
    line = bytes(buf[:eol - 1])
    del buf[:eol + 1]
    return line


def _strip_cr(line: bytes) -> bytes:
    if line.endswith(b"\r"):
        line = line[:-1]
    if b"\r" in line:
        raise ParseError(400, "bare CR in request head")
    return line


def _tokens(value: str) -> set[str]:
    return {t.strip() for t in value.split(",")}
