"""The sans-I/O parser, fed raw bytes, split at every possible boundary."""

from __future__ import annotations

import time
from dataclasses import astuple
from typing import Callable, Iterable

import pytest

from adapters.http.parser import (
    CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    IncompleteMessage,
    ParseError,
    Request,
    RequestParser,
    _find_blank_line,
)

Summary = list[object]


def drain(parser: RequestParser, out: Summary, max_data: int = 1 << 20) -> None:
    while True:
        event = parser.next_event(max_data)
        if event is NEED_DATA or event is CLOSED:
            if event is CLOSED:
                out.append("closed")
            return
        if isinstance(event, Data):
            if out and isinstance(out[-1], bytes):
                out[-1] += event.data
            else:
                out.append(event.data)
        elif isinstance(event, Request):
            out.append(event)
        else:
            assert event is END_OF_MESSAGE
            out.append("end")


def parse(pieces: Iterable[bytes], eof: bool = False, **limits: int) -> Summary:
    parser = RequestParser(**limits)
    out: Summary = []
    for piece in pieces:
        parser.feed(piece)
        drain(parser, out)
    if eof:
        parser.feed_eof()
        drain(parser, out)
    return out


def splits(raw: bytes) -> Iterable[list[bytes]]:
    """The whole, every two-piece split, and byte by byte."""
    yield [raw]
    for i in range(1, len(raw)):
        yield [raw[:i], raw[i:]]
    yield [raw[i:i + 1] for i in range(len(raw))]


def comparable(events: Summary) -> list[object]:
    return [astuple(e) if isinstance(e, Request) else e for e in events]


def same_at_every_split(raw: bytes, eof: bool = False) -> Summary:
    expected = parse([raw], eof)
    for pieces in splits(raw):
        assert comparable(parse(pieces, eof)) == comparable(expected), pieces
    return expected


def error_at_every_split(raw: bytes, status: int, eof: bool = False, **limits: int) -> None:
    for pieces in splits(raw):
        with pytest.raises(ParseError) as caught:
            parse(pieces, eof, **limits)
        assert caught.value.status == status, (pieces, caught.value.message)


def test_simple_get() -> None:
    [request, end] = same_at_every_split(b"GET /check/abc?x=1 HTTP/1.1\r\nHost: example.com:8000\r\n\r\n")
    assert isinstance(request, Request)
    assert (request.method, request.path, request.query, request.version) == ("GET", "/check/abc", "x=1", "1.1")
    assert request.host == "example.com:8000"
    assert request.keep_alive and not request.has_body and end == "end"


def test_content_length_body() -> None:
    events = same_at_every_split(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
    assert isinstance(events[0], Request) and events[0].content_length == 11
    assert events[1:] == [b"hello world", "end"]


def test_chunked_body_with_extensions_and_trailers() -> None:
    raw = (b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=value\r\nhello\r\n6\r\n world\r\nA \r\n0123456789\r\n0\r\nX-Trailer: ignored\r\n\r\n")
    events = same_at_every_split(raw)
    assert isinstance(events[0], Request) and events[0].chunked and events[0].content_length is None
    assert events[1:] == [b"hello world0123456789", "end"]


def test_pipelined_requests_come_out_in_order() -> None:
    raw = (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
           b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
           b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
    events = same_at_every_split(raw)
    paths = [e.path for e in events if isinstance(e, Request)]
    assert paths == ["/a", "/b", "/c"]
    assert [e for e in events if not isinstance(e, Request)] == ["end", b"xyz", "end", "end"]


def test_bare_lf_line_endings_and_leading_blank_lines() -> None:
    [request, end] = same_at_every_split(b"\r\n\r\nGET / HTTP/1.1\nHost: h\n\n")
    assert isinstance(request, Request) and request.path == "/" and end == "end"


def test_data_events_respect_max_data() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
    assert isinstance(parser.next_event(), Request)
    sizes = []
    while isinstance(event := parser.next_event(3), Data):
        sizes.append(len(event.data))
    assert sizes == [3, 3, 3, 1] and event is END_OF_MESSAGE


def test_consecutive_received_chunks_come_out_as_one_data_event_up_to_max_data() -> None:
    # 2-byte chunks: one event per chunk made a body of tiny chunks cost one
    # event loop pass per 2 bytes, holding the loop from other connections.
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + b"2\r\nXY\r\n" * 1000)
    assert isinstance(parser.next_event(), Request)
    sizes = []
    while isinstance(event := parser.next_event(1500), Data):
        sizes.append(len(event.data))
    assert sizes == [1500, 500] and event is NEED_DATA
    parser.feed(b"0\r\n\r\n")
    assert parser.next_event() is END_OF_MESSAGE


def test_keep_alive_rules() -> None:
    def request(raw: bytes) -> Request:
        [req, _] = parse([raw])
        assert isinstance(req, Request)
        return req

    assert not request(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive
    assert not request(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive
    assert request(b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").expect_continue
    assert not request(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue
    assert request(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n").version == "1.1"
    assert request(b"GET http://h:1/x?y HTTP/1.1\r\nHost: h\r\n\r\n").path == "/x"
    assert request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path == "*"


@pytest.mark.parametrize("lengths", [
    b"Content-Length: 2\r\nContent-Length: 2\r\n",
    b"Content-Length: 2, 2\r\n",
    b"Content-Length: 2\r\ncontent-length: 2, 2\r\n",
])
def test_repeated_content_lengths_are_400_even_when_identical(lengths: bytes) -> None:
    """RFC 9112 6.3 lets a server accept a list of identical values; nginx
    refuses any repeated Content-Length, and so do we: one proxy's "2"
    must never be another's "2, 2" turned into something else."""
    error_at_every_split(b"POST / HTTP/1.1\r\nHost: h\r\n" + lengths + b"\r\nab", 400)


def test_repeated_headers_are_joined() -> None:
    [req, _] = parse([b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"])
    assert isinstance(req, Request) and req.headers["x-a"] == "1, 2"


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400),  # RFC 9112 2.3: one digit each
    (b"GET / HTTP/1.01\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/01.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/10.0\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue-please\r\n\r\n", 417),
    (b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\n\r\n", 417),
    (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\nContent-Length: 2\r\n\r\nab", 417),
    (b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n", 417),
    (b"GET / FOO/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /\r\nHost: h\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET nothing HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nName : x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
])
def test_malformed_heads_are_refused_with_the_right_status(raw: bytes, status: int) -> None:
    error_at_every_split(raw, status)


@pytest.mark.parametrize("body", [
    b"x\r\nhello\r\n0\r\n\r\n",          # not hex
    b"\r\nhello\r\n0\r\n\r\n",           # empty size
    b"-5\r\nhello\r\n0\r\n\r\n",         # sign
    b"5\r\nhelloXY0\r\n\r\n",            # no CRLF after the data
    b"11111111111111111\r\n",           # 17 hex digits
    b"5\r\nhello\r\n0\r\n folded\r\n\r\n",  # folded trailer
    b"5\r\nhello\r\n0\r\nBad Name: v\r\n\r\n",
    # RFC 9112 2.2 allows a bare LF in the head only: CRLF throughout chunked framing
    b"5\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\n0\r\n\r\n",
    b"5\r\nhello\r\n0\n\r\n",
    b"5\r\nhello\r\n0\r\n\n",
    b"5\r\nhello\r\n0\r\nX-T: v\n\r\n",
    b"5\r\nhello\r\r\n0\r\n\r\n",
    b"5\r\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n",
    # chunk extensions: *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
    b"5;a\x01=b\r\nhello\r\n0\r\n\r\n",
    b"5;a=b\x7f\r\nhello\r\n0\r\n\r\n",
    b"5;a=\x00\r\nhello\r\n0\r\n\r\n",
    b"5;a=\"x\x01\"\r\nhello\r\n0\r\n\r\n",
    b"5;\r\nhello\r\n0\r\n\r\n",
    b"5;=b\r\nhello\r\n0\r\n\r\n",
    b"5;a=\r\nhello\r\n0\r\n\r\n",
    b"5;a=b c\r\nhello\r\n0\r\n\r\n",
    b"5;a=\"open\r\nhello\r\n0\r\n\r\n",
    b"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
    b"5;a=b;\r\nhello\r\n0\r\n\r\n",
    b"5 5\r\nhello\r\n0\r\n\r\n",
])
def test_bad_chunked_bodies_are_400(body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    error_at_every_split(head + body, 400)


def test_request_line_too_long_is_414_even_before_it_ends() -> None:
    error_at_every_split(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414, max_request_line=64)
    with pytest.raises(ParseError) as caught:
        parse([b"GET /" + b"a" * 200], max_request_line=64)
    assert caught.value.status == 414


def test_header_section_too_large_is_431() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 200 + b"\r\n\r\n"
    error_at_every_split(raw, 431, max_header_bytes=128)
    with pytest.raises(ParseError) as caught:  # refused before the head ends
        parse([b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 300], max_header_bytes=128)
    assert caught.value.status == 431


def test_too_many_headers_is_431() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10)) + b"\r\n"
    error_at_every_split(raw, 431, max_headers=5)
    assert isinstance(parse([raw], max_headers=11)[0], Request)


def test_trailers_too_large_are_431() -> None:
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
           + b"X-T: " + b"v" * 500 + b"\r\n\r\n")
    error_at_every_split(raw, 431, max_header_bytes=256)


def test_chunk_size_line_too_long_is_400() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 200 + b"\r\nhello\r\n0\r\n\r\n"
    error_at_every_split(raw, 400, max_chunk_line=64)


def test_clean_close_between_requests() -> None:
    assert parse([b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"], eof=True)[-1] == "closed"
    assert parse([], eof=True) == ["closed"]


def test_close_in_the_middle_of_a_head_is_400() -> None:
    with pytest.raises(ParseError) as caught:
        parse([b"GET / HTTP/1.1\r\nHo"], eof=True)
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", [
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
])
def test_close_in_the_middle_of_a_body_is_incomplete(raw: bytes) -> None:
    with pytest.raises(IncompleteMessage):
        parse([raw], eof=True)


def test_after_an_error_the_parser_stays_failed() -> None:
    parser = RequestParser()
    parser.feed(b"BAD\r\n\r\n")
    with pytest.raises(ParseError):
        parser.next_event()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    with pytest.raises(ParseError):
        parser.next_event()


def test_partial_head_and_buffer_introspection() -> None:
    parser = RequestParser()

    def partial() -> bool:  # a call, so that mypy does not narrow the property
        return parser.has_partial_head

    assert parser.at_message_start and not partial()
    parser.feed(b"\r\n")
    assert not partial()
    parser.feed(b"GE")
    assert partial() and parser.buffered == 4
    assert parser.next_event() is NEED_DATA


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_limits_are_exact_and_the_same_however_the_head_arrives(eol: bytes) -> None:
    """A request line of exactly ``max_request_line`` bytes and field lines
    of exactly ``max_header_bytes`` (line endings included) pass at every
    split; one byte more is refused at every split."""
    def head(line_length: int, fields_length: int) -> bytes:
        target = b"/" + b"a" * (line_length - len(b"GET / HTTP/1.1"))
        host = b"Host: h" + eol
        filler = b"X: " + b"v" * (fields_length - len(host) - 3 - len(eol)) + eol
        raw = b"GET " + target + b" HTTP/1.1" + eol + host + filler + eol
        assert len(raw.split(eol)[0]) == line_length and len(host + filler) == fields_length
        return raw

    for line_length, fields_length in ((64, 100), (70, 128)):
        [request, end] = same_at_every_split(head(line_length, fields_length))
        assert isinstance(request, Request) and end == "end"
    for pieces in splits(head(64, 128)):
        assert isinstance(parse(pieces, max_request_line=64, max_header_bytes=128)[0], Request), pieces
    error_at_every_split(head(65, 100), 414, max_request_line=64, max_header_bytes=128)
    error_at_every_split(head(64, 129), 431, max_request_line=64, max_header_bytes=128)


def test_default_limits_are_8k_line_64k_headers_100_fields() -> None:
    parser = RequestParser()
    assert (parser.max_request_line, parser.max_header_bytes, parser.max_headers) == (8192, 65536, 100)
    fields = b"Host: h\r\n" + b"".join(b"X-%02d: v\r\n" % i for i in range(99))
    assert isinstance(parse([b"GET / HTTP/1.1\r\n" + fields + b"\r\n"])[0], Request)
    with pytest.raises(ParseError) as caught:
        parse([b"GET / HTTP/1.1\r\n" + fields + b"X-Last: v\r\n\r\n"])
    assert caught.value.status == 431


def test_content_length_body_pieces_are_handed_on_without_a_copy() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n")
    assert isinstance(parser.next_event(), Request)
    pieces = [b"a" * 10, b"b" * 10]
    for piece in pieces:
        parser.feed(piece)
    assert parser.buffered == 20
    first, second = parser.next_event(), parser.next_event()
    assert isinstance(first, Data) and first.data is pieces[0]
    assert isinstance(second, Data) and second.data is pieces[1]
    # A piece holding the end of the body and a pipelined request is split.
    parser.feed(b"c" * 10 + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    small = parser.next_event(4)
    assert isinstance(small, Data) and small.data == b"cccc"
    rest = parser.next_event()
    assert isinstance(rest, Data) and rest.data == b"c" * 6
    assert parser.next_event() is END_OF_MESSAGE
    following = parser.next_event()
    assert isinstance(following, Request) and following.path == "/next"


@pytest.mark.parametrize("data, expected", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\n\nmore", (24, 27)),  # CRLF first; LF pair in the body
    (b"GET / HTTP/1.1\nHost: x\n\nbody\r\n\r\n", (22, 24)),  # bare LF first, CRLF later
    (b"GET / HTTP/1.1\r\nHost: x\r\n", (-1, 0)),
])
def test_blank_line_is_the_earliest_of_crlf_and_bare_lf(data: bytes, expected: tuple[int, int]) -> None:
    assert _find_blank_line(bytearray(data)) == expected


def best_parse_seconds(raw: bytes, repeat: int = 3) -> float:
    """The shortest of ``repeat`` parses of the head ``raw`` (fed at once)."""
    best = float("inf")
    for _ in range(repeat):
        parser = RequestParser()
        parser.feed(raw)
        began = time.perf_counter()
        event = parser.next_event()
        best = min(best, time.perf_counter() - began)
        assert isinstance(event, Request)
    return best


@pytest.mark.parametrize("padded, value", [
    (lambda pad: b"GET / HTTP/1.1\r\nHost: h\r\nX: a" + pad + b"b\r\n\r\n", "a{pad}b"),  # whitespace inside a value
    (lambda pad: b"GET / HTTP/1.1\nHost: h\nX: a" + pad + b"b\n\n", "a{pad}b"),
    (lambda pad: b"GET / HTTP/1.1\r\nHost: h\r\nX:" + pad + b"\r\n\r\n", ""),  # a value of whitespace only
    (lambda pad: b"GET / HTTP/1.1\r\nHost: h\r\nX: a" + pad + b"\r\n\r\n", "a"),  # trailing whitespace
], ids=["inside-crlf", "inside-lf", "only", "trailing"])
def test_header_parsing_time_is_linear_in_runs_of_whitespace(padded: Callable[[bytes], bytes], value: str) -> None:
    """A regex with a lazy group before optional whitespace and an anchor
    took seconds for one 64 KiB header of spaces: quadratic. 8 times the
    padding may cost about 8 times the time, not 64."""
    small = best_parse_seconds(padded(b" \t" * 1000))
    large = best_parse_seconds(padded(b" \t" * 8000))
    assert large < 24 * small + 0.002, (small, large)
    [request, _] = parse([padded(b" \t" * 30000)])
    assert isinstance(request, Request) and request.headers["x"] == value.format(pad=" \t" * 30000)


def request_of(raw: bytes) -> Request:
    [request, *_] = same_at_every_split(raw)
    assert isinstance(request, Request)
    return request


@pytest.mark.parametrize("host, expected", [
    ("example.com:8000", "example.com:8000"),
    ("Example.COM", "Example.COM"),
    ("h:", "h"),  # an empty port is allowed (RFC 3986 3.2.3) and dropped (6.2.3)
    ("[::1]:80", "[::1]:80"),
    ("[::1]:", "[::1]"),
    ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
    ("[v1.fe80::a+en1]", "[v1.fe80::a+en1]"),  # IPvFuture
    ("192.0.2.1:65535", "192.0.2.1:65535"),
    ("a-b.c_d~!$&'()*+,;=%41", "a-b.c_d~!$&'()*+,;=%41"),  # every reg-name character
])
def test_valid_hosts_are_kept(host: str, expected: str) -> None:
    assert request_of(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n").host == expected


@pytest.mark.parametrize("host", [
    b"", b":", b":80",  # no host: every target we serve is an http URI, whose host is never empty
    b"[zz]", b"[1:2:3", b"[1:2:3]", b"[::1]x", b"[]", b"[::1%25en0]", b"[v1.]", b"::1",
    b"a b", b"a/b", b"a\\b", b"a@b", b"user@h:80", b"a%zz", b"a%4", b'"h"', b"a<b>", b"h\xe9",
    b"h:8o", b"h:80:80", b"h:+80", b"h:123456", b"h:65536", b"h: 80",
])
def test_malformed_hosts_are_400(host: bytes) -> None:
    error_at_every_split(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", 400)


def test_an_http_1_0_request_without_host_has_none() -> None:
    assert request_of(b"GET / HTTP/1.0\r\n\r\n").host is None


@pytest.mark.parametrize("target, host, path, query", [
    (b"http://a.example/upload/", "a.example", "/upload/", ""),
    (b"HTTP://A.example:81/x?y=1", "A.example:81", "/x", "y=1"),
    (b"http://a.example", "a.example", "/", ""),
    (b"http://a.example?y=1", "a.example", "/", "y=1"),
    (b"https://[::1]:8443/x", "[::1]:8443", "/x", ""),
    (b"http://a.example:/x", "a.example", "/x", ""),
])
def test_the_absolute_form_authority_wins_over_host(target: bytes, host: str, path: str, query: str) -> None:
    """RFC 9112 3.2.2: the Host header is ignored (though still checked)."""
    request = request_of(b"POST " + target + b" HTTP/1.1\r\nHost: b.example\r\nContent-Length: 0\r\n\r\n")
    assert (request.host, request.path, request.query) == (host, path, query)
    assert request_of(b"GET " + target + b" HTTP/1.0\r\n\r\n").host == host


@pytest.mark.parametrize("raw", [
    b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",  # an http URI with an empty host
    b"GET http://:80/x HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://u@a.example/x HTTP/1.1\r\nHost: h\r\n\r\n",  # userinfo (RFC 9110 4.2.4)
    b"GET http://[zz]/x HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://a.example:x/ HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://a.example/x HTTP/1.1\r\nHost: [zz]\r\n\r\n",  # Host is ignored, yet must be valid
    b"GET http://a.example/x HTTP/1.1\r\n\r\n",  # and present in HTTP/1.1
])
def test_malformed_absolute_form_authorities_are_400(raw: bytes) -> None:
    error_at_every_split(raw, 400)


def test_chunk_extensions_in_the_grammar_are_accepted_and_ignored() -> None:
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5 ; a = b ;c;d=\"q \\\" \\; \xff\"\t\r\nhello\r\n1;E=1\r\n!\r\n0;last\r\n\r\n")
    assert same_at_every_split(raw)[1:] == [b"hello!", "end"]


def test_a_bare_lf_head_may_precede_crlf_chunked_framing() -> None:
    raw = b"POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n5\r\nhello\r\n0\r\nT: v\r\n\r\n"
    assert same_at_every_split(raw)[1:] == [b"hello", "end"]


def test_expect_100_continue_is_case_insensitive() -> None:
    assert request_of(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n"
                      ).expect_continue
