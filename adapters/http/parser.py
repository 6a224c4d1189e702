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
from enum import Enum

from adapters.http.events import (
    CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    Event,
    IncompleteMessage,
    ParseError,
    Request,
)
from adapters.http.request_head import FORBIDDEN_IN_HEAD, TOKEN, parse_head

__all__ = ["CLOSED", "END_OF_MESSAGE", "NEED_DATA", "Data", "Event", "IncompleteMessage", "ParseError", "Request",
           "RequestParser"]


class _State(Enum):
    HEAD = 1
    LENGTH = 2
    CHUNK_SIZE = 3
    CHUNK_DATA = 4
    CHUNK_END = 5
    TRAILERS = 6
    ERROR = 7


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
        request = parse_head(head, self.max_request_line, self.max_header_bytes, self.max_headers)
        if request.chunked:
            self._state = _State.CHUNK_SIZE
        else:
            # A request without framing headers has an empty body (RFC 9112
            # 6.3); END_OF_MESSAGE follows at once.
            self._state = _State.LENGTH
            self._remaining = request.content_length or 0
        return request

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
        """The next event of a chunked body. The data of consecutive chunks
        already received is joined into one ``Data`` event (up to
        ``max_data`` bytes): a body of tiny chunks costs one event per read,
        not one per chunk, so the consumer's per-event work stays linear in
        bytes and the connection yields to others as often as for any body."""
        buf = self._buf
        pieces: list[bytes] = []
        collected = 0
        while True:
            state = self._state
            if state is _State.CHUNK_SIZE:
                eol = buf.find(b"\n", 0, self.max_chunk_line + 1)
                if eol < 0:
                    if len(buf) > self.max_chunk_line:
                        raise ParseError(400, "chunk size line is too long")
                    return Data(b"".join(pieces)) if pieces else self._need_body_data()
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
                    if pieces:
                        return Data(b"".join(pieces))
                else:
                    self._state = _State.CHUNK_DATA
                    self._remaining = size
            elif state is _State.CHUNK_DATA:
                if not buf:
                    return Data(b"".join(pieces)) if pieces else self._need_body_data()
                n = min(self._remaining, len(buf), max_data - collected)
                pieces.append(bytes(buf) if n == len(buf) else bytes(buf[:n]))
                collected += n
                del buf[:n]
                self._remaining -= n
                if self._remaining == 0:
                    self._state = _State.CHUNK_END
                if collected >= max_data:
                    return Data(b"".join(pieces))
            elif state is _State.CHUNK_END:
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif len(buf) >= 2 or (buf and buf[:1] != b"\r"):
                    raise ParseError(400, "missing CRLF after chunk data")
                else:
                    return Data(b"".join(pieces)) if pieces else self._need_body_data()
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
