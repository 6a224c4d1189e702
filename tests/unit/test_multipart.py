"""The sans-I/O multipart/form-data parser, fed raw bodies split at every
possible point: what a part is, what is content, what is refused, and that
memory stays flat and time linear on hostile bodies."""

from __future__ import annotations

import email.parser
import email.policy
import time
from typing import Callable, Iterable

import pytest

from adapters.http.multipart import (
    END,
    NEED_DATA,
    PART_END,
    MultipartError,
    MultipartParser,
    PartData,
    PartStart,
    boundary_of,
)

Summary = list[object]

FORM = (
    b"--B\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"hello\r\n"
    b"--B\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\x00\r\n--\r\n-B\r\n--B-\r\n--Bx\r\n"
    b"--B--\r\n"
)
FORM_EVENTS: Summary = [
    ("start", "title", None, None), b"hello", "part end",
    ("start", "file", "a.bin", "application/octet-stream"), b"\x00\r\n--\r\n-B\r\n--B-\r\n--Bx", "part end",
    "end",
]


def drain(parser: MultipartParser, out: Summary, max_data: int = 1 << 20) -> None:
    while not out or out[-1] != "end":
        event = parser.next_event(max_data)
        if event is NEED_DATA:
            assert parser.buffered <= parser.high_water
            return
        if isinstance(event, PartData):
            assert 0 < len(event.data) <= max_data
            if out and isinstance(out[-1], bytearray):
                out[-1] += event.data
            else:
                out.append(bytearray(event.data))
        elif isinstance(event, PartStart):
            out.append(("start", event.name, event.filename, event.content_type))
        elif event is PART_END:
            out.append("part end")
        else:
            assert event is END
            out.append("end")
            return


def parse(pieces: Iterable[bytes], boundary: bytes = b"B", eof: bool = True,
          limits: dict[str, int] | None = None) -> Summary:
    parser = MultipartParser(boundary, **(limits or {}))
    out: Summary = []
    for piece in pieces:
        parser.feed(piece)
        drain(parser, out)
    if eof:
        parser.feed_eof()
        drain(parser, out)
    return [bytes(item) if isinstance(item, bytearray) else item for item in out]


def splits(raw: bytes) -> Iterable[list[bytes]]:
    """The whole, every two-piece split, and byte by byte."""
    yield [raw]
    for i in range(1, len(raw)):
        yield [raw[:i], raw[i:]]
    yield [raw[i:i + 1] for i in range(len(raw))]


def form(*parts: bytes, boundary: bytes = b"B") -> bytes:
    """A body with the given parts (header section, blank line, content)."""
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"


def field(name: str, content: bytes = b"v", extra: bytes = b"") -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"' + extra + b"\r\n\r\n" + content


# -- the boundary ---------------------------------------------------------------------


@pytest.mark.parametrize("value, boundary", [
    ("multipart/form-data; boundary=B", b"B"),
    ("Multipart/Form-Data;boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
     b"----WebKitFormBoundary7MA4YWxkTrZu0gW"),
    ('multipart/form-data; charset=utf-8; boundary="a b:c?"', b"a b:c?"),
    ('multipart/form-data ; boundary = "q\\uo\\te" ;', b"quote"),
    ("multipart/form-data; BOUNDARY=" + "x" * 70, b"x" * 70),
    ("multipart/form-data; boundary='()+_,-./:=?", b"'()+_,-./:=?"),
])
def test_boundary_of_reads_token_and_quoted_boundaries(value: str, boundary: bytes) -> None:
    assert boundary_of(value) == boundary


@pytest.mark.parametrize("value", [
    "multipart/mixed; boundary=B", "text/plain", "", "multipart/form-data", "multipart/form-data; boundary=",
    'multipart/form-data; boundary=""', "multipart/form-data; boundary=" + "x" * 71,
    'multipart/form-data; boundary="ends with space "', "multipart/form-data; boundary=a;b",
    "multipart/form-data; boundary=B; boundary=C", 'multipart/form-data; boundary="B', "multipart/form-data; =B",
    "multipart/form-data; boundary=B x", "multipart/form-data; boundary=\xe9", "multipart/form-data; boundary=a[b",
])
def test_boundary_of_refuses_anything_else_with_400(value: str) -> None:
    with pytest.raises(MultipartError) as caught:
        boundary_of(value)
    assert caught.value.status == 400 and caught.value.message


@pytest.mark.parametrize("boundary", [b"", b"x" * 71, b"a\r\nb", b"ends ", b"\xff"])
def test_the_parser_refuses_an_invalid_boundary(boundary: bytes) -> None:
    with pytest.raises(MultipartError):
        MultipartParser(boundary)


# -- parts ------------------------------------------------------------------------------


def test_a_form_parses_alike_however_it_is_split() -> None:
    for pieces in splits(FORM):
        assert parse(pieces) == FORM_EVENTS, pieces


def test_a_small_form_parses_alike_for_every_pair_of_split_points() -> None:
    body = form(field("a", b"\r\n--B-"), boundary=b"B")
    expected = [("start", "a", None, None), b"\r\n--B-", "part end", "end"]
    for i in range(len(body) + 1):
        for j in range(i, len(body) + 1):
            assert parse([body[:i], body[i:j], body[j:]]) == expected, (i, j)


@pytest.mark.parametrize("content", [
    b"\r\n--B"[:-1] + b"\r\n--",  # a delimiter but for its last byte
    b"--B\r\n",  # a dash-boundary without the CRLF before it
    b"x\r\n--Bx", b"\r\n--B-", b"\r\n--B--x", b"\r\n--B x\r\n", b"\r\n--B\rx", b"\r\n--B--\rx", b"\r\n--B\t-",
    b"\r\n--B\r", b"\r\n--", b"\r\n", b"\r", b"",
])
def test_boundary_like_bytes_are_content_however_they_are_split(content: bytes) -> None:
    body = form(field("f", content, b'; filename="f"'))
    for pieces in splits(body):
        assert parse(pieces) == [("start", "f", "f", None), *([content] if content else []), "part end", "end"]


def test_preamble_epilogue_and_transport_padding_are_accepted() -> None:
    body = (b"a preamble\r\n--B--x\r\n--B \t\r\n" + field("a", b"1") + b"\r\n--B\t\r\n" + field("b", b"2")
            + b"\r\n--B-- \r\nan epilogue\r\n--B\r\nanything")
    expected = [("start", "a", None, None), b"1", "part end", ("start", "b", None, None), b"2", "part end", "end"]
    for pieces in splits(body):
        assert parse(pieces) == expected


@pytest.mark.parametrize("body", [b"--B--", b"--B--\r\n", b"--B-- ", b"\r\n--B--\r\nepilogue", b"pre\r\n--B--"])
def test_a_form_without_fields_is_just_its_close_delimiter(body: bytes) -> None:
    for pieces in splits(body):
        assert parse(pieces) == ["end"]


def test_the_close_delimiter_may_end_the_body_without_a_crlf() -> None:
    body = form(field("a")).removesuffix(b"\r\n")
    assert parse([body]) == [("start", "a", None, None), b"v", "part end", "end"]
    assert parse([body], eof=False) == [("start", "a", None, None), b"v"]  # "--B--" may yet be "--B--x"


@pytest.mark.parametrize("disposition, name, filename", [
    (b'form-data; name="text"', "text", None),
    (b"form-data; name=text", "text", None),
    (b'FORM-DATA; NAME="f"; FILENAME="x.pdf"', "f", "x.pdf"),
    (b'form-data; name="f"; filename=""', "f", ""),
    (b'form-data; name="f"; filename="a \\"q\\".txt"', "f", 'a "q".txt'),
    (b"form-data; name=\"f\"; filename=\"fallback\"; filename*=UTF-8''na%C3%AFve%20%E2%82%AC.txt", "f",
     "na\xefve \u20ac.txt"),
    (b"form-data; name=\"f\"; filename*=utf-8''%E6%96%87.txt", "f", "\u6587.txt"),
    ('form-data; name="caf\xe9"; filename="\u6587\u4ef6.txt"'.encode(), "caf\xe9", "\u6587\u4ef6.txt"),
    (b'form-data; name="caf\xe9"', "caf\xe9", None),  # latin-1, not UTF-8: taken as it is
    (b'form-data; name="a; filename=b"', "a; filename=b", None),
    (b'form-data ; name = "x" ;', "x", None),
])
def test_part_names_and_file_names(disposition: bytes, name: str, filename: str | None) -> None:
    body = form(b"Content-Disposition: " + disposition + b"\r\nX-Other: 1\r\n\r\n")
    parser = MultipartParser(b"B")
    parser.feed(body)
    start = parser.next_event()
    assert isinstance(start, PartStart)
    assert (start.name, start.filename, start.content_type) == (name, filename, None)
    assert start.headers["x-other"] == "1"


def test_the_stdlib_email_parser_reads_the_form_alike() -> None:
    head = b"Content-Type: multipart/form-data; boundary=B\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + FORM)
    theirs: Summary = []
    for part in message.iter_parts():
        theirs += [("start", part.get_param("name", header="content-disposition"), part.get_filename(),
                    part["content-type"]), part.get_payload(decode=True), "part end"]
    assert parse([FORM]) == theirs + ["end"]


# -- refusals ---------------------------------------------------------------------------


def test_every_truncation_before_the_close_delimiter_is_refused() -> None:
    end = FORM.index(b"\r\n--B--") + len(b"\r\n--B--")
    assert FORM[end:] == b"\r\n"
    for cut in [*range(end), end + 1]:  # a CR after the close delimiter must be a CRLF
        for pieces in ([FORM[:cut]], [FORM[i:i + 1] for i in range(cut)]):
            with pytest.raises(MultipartError):
                parse(pieces)
    for cut in (end, len(FORM)):
        assert parse([FORM[:cut]]) == FORM_EVENTS


LIMITS = {"max_part_header_bytes": 64, "max_parts": 2, "max_preamble_bytes": 10, "max_padding": 4}
SECTION_AT_LIMIT = b'Content-Disposition: form-data; name="a"\r\nX: ' + b"y" * 19
assert len(SECTION_AT_LIMIT) == LIMITS["max_part_header_bytes"]


@pytest.mark.parametrize("body", [
    b"p" * 10 + b"\r\n" + form(field("a")),
    b"--B" + b" " * 4 + b"\r\n" + field("a") + b"\r\n--B-- \t \t\r\n",
    b"--B\r\n" + SECTION_AT_LIMIT + b"\r\n\r\nv\r\n--B--",
    form(field("a"), field("b")),
])
def test_bodies_at_the_limits_are_accepted(body: bytes) -> None:
    for pieces in splits(body):
        assert parse(pieces, limits=LIMITS)[-1] == "end"


@pytest.mark.parametrize("body, message", [
    (b"", "no boundary"),
    (b"no bound", "no boundary"),
    (b"p" * 11 + b"\r\n" + form(field("a")), "preamble"),
    (b"p" * 100, "preamble"),
    (b"--B" + b" " * 5 + b"\r\n" + field("a") + b"\r\n--B--", "padding"),
    (b"--B\r\n" + SECTION_AT_LIMIT + b"y\r\n\r\nv\r\n--B--", "too large"),
    (b"--B\r\n" + SECTION_AT_LIMIT * 3, "too large"),
    (form(field("a"), field("b"), field("c")), "more than 2 parts"),
    (form(b"\r\nno header section"), "Content-Disposition"),
    (form(b"X: y\r\n\r\nv"), "Content-Disposition"),
    (form(b"no colon\r\n\r\nv"), "malformed"),
    (form(b"X : y\r\n" + field("a")), "malformed"),
    (form(field("a").replace(b"\r\n\r\n", b"\r\n folded\r\n\r\n")), "malformed"),
    (form(b"X: a\nb\r\n" + field("a")), "control character"),
    (form(b"X: a\rb\r\n" + field("a")), "control character"),
    (form(b"X: a\x00b\r\n" + field("a")), "control character"),
    (form(b"X: 1\r\nx: 2\r\n" + field("a")), "repeated"),
    (form(b'Content-Disposition: attachment; name="a"\r\n\r\nv'), "form-data"),
    (form(b"Content-Disposition: form-data\r\n\r\nv"), "form-data"),
    (form(b'Content-Disposition: form-data; name="a"; name="b"\r\n\r\nv'), "repeated"),
    (form(b'Content-Disposition: form-data; name="a\r\n\r\nv'), "unterminated"),
    (form(b"Content-Disposition: form-data; name=a b\r\n\r\nv"), "malformed"),
    (form(b"Content-Disposition: form-data; name=a; filename*=UTF-8''%FF\r\n\r\nv"), "file name"),
    (form(field("a")).removesuffix(b"--B--\r\n") + b"--B-", "final boundary"),
    (form(field("a")).removesuffix(b"--B--\r\n") + b"--B--\r", "final boundary"),
    (form(field("a")).removesuffix(b"--B--\r\n") + b"--B--x", "final boundary"),
])
def test_malformed_bodies_are_refused_however_they_are_split(body: bytes, message: str) -> None:
    for pieces in splits(body):
        with pytest.raises(MultipartError, match=message) as caught:
            parse(pieces, limits=LIMITS)
        assert caught.value.status == 400


def test_an_error_is_sticky_and_later_bytes_are_dropped() -> None:
    parser = MultipartParser(b"B", max_parts=1)
    parser.feed(form(field("a"), field("b")))
    with pytest.raises(MultipartError, match="more than 1 parts"):
        while parser.next_event() is not NEED_DATA:
            pass
    parser.feed(b"more")
    assert parser.buffered == 0
    with pytest.raises(MultipartError, match="more than 1 parts"):
        parser.next_event()


def test_after_the_end_the_epilogue_is_dropped_and_end_repeats() -> None:
    parser = MultipartParser(b"B")
    parser.feed(b"--B--\r\n")
    assert parser.next_event() is END
    parser.feed(b"x" * 1000)
    assert parser.buffered == 0 and parser.next_event() is END


# -- memory and time -------------------------------------------------------------------


def test_content_streams_out_with_a_flat_buffer() -> None:
    parser = MultipartParser(b"BX")
    parser.feed(b"--BX\r\n" + field("f", b"", b'; filename="big"'))
    assert isinstance(parser.next_event(), PartStart)
    piece = (b"\r\n--B" * 20_000)[:64 * 1024]
    out = 0
    for _ in range(16):  # 1 MiB of near-delimiters, no end yet
        parser.feed(piece)
        while (event := parser.next_event(max_data=4096)) is not NEED_DATA:
            assert isinstance(event, PartData) and len(event.data) <= 4096
            out += len(event.data)
        assert parser.buffered <= parser.high_water
        assert parser.buffered < len(b"\r\n--BX")  # all but a tail that may begin the delimiter
    assert out + parser.buffered == 16 * len(piece)
    parser.feed(b"\r\n--BX--")
    parser.feed_eof()
    while (event := parser.next_event()) is not PART_END:
        assert isinstance(event, PartData)
    assert parser.next_event() is END


def cpu_seconds(run: Callable[[], object], repeat: int = 1) -> float:
    """The best of three CPU times of ``repeat`` runs (CPU time: other
    processes on the machine do not count)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(repeat):
            run()
        best = min(best, time.process_time() - started)
    return best


def assert_linear_time(run_of: Callable[[int], Callable[[], object]], n: int) -> None:
    """A run on an input of size 4n takes less than 8 times as long as on
    size n (quadratic would be about 16). Small runs are repeated until they
    take long enough to time."""
    small, large = run_of(n), run_of(4 * n)
    repeat = 1
    while cpu_seconds(small, repeat) < 0.02:
        repeat *= 2
    ratio = cpu_seconds(large, repeat) / cpu_seconds(small, repeat)
    assert ratio < 8, ratio


def count(pieces: list[bytes], boundary: bytes, max_data: int = 1 << 20, **limits: int) -> tuple[int, int]:
    """(parts, content bytes) of a valid body: the parser's work alone (the
    content is not kept: growing one big buffer has costs of its own)."""
    parser = MultipartParser(boundary, **limits)
    parts = size = 0
    for piece in pieces + [b""]:
        parser.feed(piece)
        if not piece:
            parser.feed_eof()
        while (event := parser.next_event(max_data)) is not NEED_DATA and event is not END:
            if isinstance(event, PartData):
                size += len(event.data)
            parts += event is PART_END
    return parts, size


def assert_linear(body_of: Callable[[int], bytes], n: int, piece: int, boundary: bytes = b"B",
                  max_data: int = 1 << 20, **limits: int) -> None:
    """Parsing grows linearly with the body, fed in pieces of ``piece`` bytes
    and taken in events of at most ``max_data`` bytes."""
    def run_of(size: int) -> Callable[[], object]:
        body = body_of(size)
        pieces = [body[i:i + piece] for i in range(0, len(body), piece)]
        assert count(pieces, boundary, max_data, **limits)[0] >= 1
        return lambda: count(pieces, boundary, max_data, **limits)
    assert_linear_time(run_of, n)


BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def near_boundaries(size: int) -> bytes:
    near = b"\r\n--" + BOUNDARY[:-1]
    content = (near * (size // len(near) + 1))[:size]
    return form(field("f", content, b'; filename="f"'), boundary=BOUNDARY)


def test_time_is_linear_on_a_megabyte_of_near_delimiters() -> None:
    assert_linear(near_boundaries, 256 * 1024, 64 * 1024, BOUNDARY)


def test_time_is_linear_on_near_delimiters_fed_one_byte_at_a_time() -> None:
    assert_linear(near_boundaries, 25_000, 1, BOUNDARY)


def test_time_is_linear_on_delimiters_followed_by_other_bytes() -> None:
    def body(size: int) -> bytes:
        return form(field("f", b"\r\n--B \tx" * (size // 8)))
    assert_linear(body, 128 * 1024, 64 * 1024)
    assert_linear(body, 4096, 1)


def test_time_is_linear_when_a_big_read_is_taken_in_small_events() -> None:
    # What was searched is not searched again for the next event.
    def body(size: int) -> bytes:
        return form(field("f", b"\r\n--B \tx" * (size // 8)))
    assert_linear(body, 64 * 1024, 1 << 30, max_data=256)


def test_time_is_linear_on_a_part_header_section_fed_one_byte_at_a_time() -> None:
    def body(size: int) -> bytes:
        return form(field("f", b"v", b'; filename="' + b"n" * size + b'"\r\nX: ' + b"y" * size))
    assert_linear(body, 5000, 1, max_part_header_bytes=1 << 20)


def test_time_is_linear_on_spaces_all_over_a_part_content_disposition() -> None:
    # Well-formed, so it reaches headers.disposition_filename: every run of
    # spaces is followed by what its regex expects, which keeps it linear.
    def body(size: int) -> bytes:
        s = b" " * size
        disposition = b"form-data;" + s + b'name="a"' + s + b";" + s + b"filename" + s + b"=" + s + b'"b' + s + b'"' + s
        return form(b"Content-Disposition: " + disposition + b"\r\n\r\nv")
    assert_linear(body, 4000, 1 << 20, max_part_header_bytes=1 << 20)


def test_time_is_linear_on_transport_padding_fed_one_byte_at_a_time() -> None:
    def body(size: int) -> bytes:
        return b"--B" + b" " * size + b"\r\n" + field("a") + b"\r\n--B--" + b"\t" * size
    assert_linear(body, 5000, 1, max_padding=1 << 20)


@pytest.mark.parametrize("value_of", [
    lambda n: "multipart/form-data;" + " " * n + "x",
    lambda n: 'multipart/form-data; boundary="' + "\\a" * n,
    lambda n: "multipart/form-data" + "; a=b" * n,
    lambda n: 'multipart/form-data; boundary="' + '\\"' * n,  # every quote escaped: never terminated
    lambda n: "multipart/form-data; a=" + "=" * n,
])
def test_boundary_of_is_linear(value_of: Callable[[int], str]) -> None:
    def run_of(size: int) -> Callable[[], object]:
        value = value_of(size)

        def run() -> None:
            with pytest.raises(MultipartError):
                boundary_of(value)
        return run
    assert_linear_time(run_of, 50_000)
