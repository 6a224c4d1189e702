"""Parsing a complete request head into a ``Request``, sans-I/O.

Two paths accept exactly the same heads: a fast one for well-formed heads
(a few C-level calls) and a checked one, line by line, that gives the
precise error for anything unusual. A unit test holds them to it. Both are
linear in the head's length: no regex here backtracks over a run of
whitespace.
"""

from __future__ import annotations

import re

from adapters.http.events import ParseError, Request
from adapters.http.target import InvalidTarget, checked_authority, split_target

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


def parse_head(head: bytes, max_request_line: int, max_header_bytes: int, max_headers: int) -> Request:
    """The ``Request`` a complete head describes (its final blank line
    excluded), checked against the limits (414, 431) and the grammar (400,
    505, 417). Linear in the head's length."""
    if FORBIDDEN_IN_HEAD.search(head):
        raise ParseError(400, "control character in request head")
    first_eol = head.find(b"\n")
    request_line_bytes = len(head) if first_eol < 0 else first_eol
    if request_line_bytes - (head[request_line_bytes - 1:request_line_bytes] == b"\r") > max_request_line:
        raise ParseError(414, "request line is too long")
    if first_eol >= 0 and len(head) - first_eol > max_header_bytes:
        raise ParseError(431, "request header section is too large")
    if head.count(b"\n") > max_headers:
        raise ParseError(431, "too many header fields")
    fields = _fast_fields(head) or _checked_fields(head)
    return _request(*fields)


def _request(raw_method: bytes, raw_target: bytes, version: str, pairs: list[tuple[str, str]]) -> Request:
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
    parts = strip_cr(lines[0]).split(b" ")
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
        line = strip_cr(raw_line)
        if line[:1] in (b" ", b"\t"):
            raise ParseError(400, "obsolete line folding in header")
        raw_name, colon, raw_value = line.partition(b":")
        if not colon or not TOKEN.match(raw_name):
            raise ParseError(400, "malformed header field")
        pairs.append((raw_name.decode("ascii"), raw_value.strip(b" \t").decode("latin-1")))
    return raw_method, raw_target, "1.0" if minor == b"0" else "1.1", pairs


def strip_cr(line: bytes) -> bytes:
    if line.endswith(b"\r"):
        line = line[:-1]
    if b"\r" in line:
        raise ParseError(400, "bare CR in request head")
    return line


def _tokens(value: str) -> set[str]:
    return {t.strip() for t in value.split(",")}
