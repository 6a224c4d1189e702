"""Hypothesis strategies for multipart/form-data bodies: valid forms built from
parts whose content is full of boundary-like bytes (so the parser's delimiter
search is pushed to its edges), and those forms mutated into invalid ones.
``encode`` is the reference encoder the parser's events are held against."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import strategies as st

BOUNDARIES = [
    b"B", b"x-1", b"----WebKitFormBoundary7MA4YWxkTrZu0gW", b"a b", b"'()+_,-./:=?", b"-", b"Z" * 70,
]


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes
    extended: bool = False  # the file name also in filename* (RFC 8187)


@dataclass(frozen=True)
class Form:
    boundary: bytes
    parts: tuple[Part, ...]
    body: bytes
    preamble: bytes = b""

    @property
    def content_type(self) -> str:
        return f'multipart/form-data; boundary="{self.boundary.decode("ascii")}"'


def fragments(boundary: bytes) -> list[bytes]:
    """Bytes that look like a delimiter to a careless parser but are content."""
    dash_boundary = b"--" + boundary
    return [
        b"\r\n" + dash_boundary[:-1], dash_boundary, b"x" + dash_boundary + b"\r\n", b"\r\n" + dash_boundary + b"x",
        b"\r\n" + dash_boundary + b"--x", b"\r\n" + dash_boundary + b" x\r\n", b"\r\n" + dash_boundary + b"\r",
        b"\r\n" + dash_boundary + b"-", b"\r\n", b"\r", b"\n", b"-", b"--", b"\r\n--", boundary, b" ", b"\t",
    ]


def quoted(text: str) -> bytes:
    """A quoted-string of ``text``, raw UTF-8 as browsers send it."""
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8") + b'"'


def has_delimiter_line(content: bytes, boundary: bytes) -> bool:
    """Whether ``content``, followed by a delimiter as in an encoded body,
    holds a delimiter line itself (the encoder cannot send such content)."""
    line = re.escape(b"\r\n--" + boundary) + rb"(?:--)?[ \t]*\r\n"
    return re.search(line, b"\r\n" + content + b"\r\n") is not None


def encode(boundary: bytes, parts: list[Part], preamble: bytes = b"", epilogue: bytes = b"",
           padding: bytes = b"", final_crlf: bool = True) -> bytes:
    dash_boundary = b"--" + boundary
    out = [preamble + b"\r\n"] if preamble else []
    for part in parts:
        out.append(dash_boundary + padding + b"\r\nContent-Disposition: form-data; name=" + quoted(part.name))
        if part.filename is not None:
            out.append(b"; filename=" + quoted(part.filename))
            if part.extended:
                out.append(b"; filename*=UTF-8''" + quote(part.filename, safe="").encode("ascii"))
        out.append(b"\r\n")
        if part.content_type is not None:
            out.append(b"Content-Type: " + part.content_type.encode("ascii") + b"\r\n")
        out.append(b"\r\n" + part.data + b"\r\n")
    out.append(dash_boundary + b"--" + padding)
    if final_crlf:
        out.append(b"\r\n" + epilogue)
    return b"".join(out)


names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2fff, exclude_characters="\x7f"), max_size=8)
content_types = st.sampled_from([None, "text/plain", "application/octet-stream", "image/png",
                                 "text/plain; charset=utf-8"])


@st.composite
def contents(draw: st.DrawFn, boundary: bytes) -> bytes:
    pieces = st.sampled_from(fragments(boundary)) | st.binary(max_size=12)
    return b"".join(draw(st.lists(pieces, max_size=10)))


@st.composite
def parts(draw: st.DrawFn, boundary: bytes) -> Part:
    filename = draw(st.none() | names)
    data = draw(contents(boundary).filter(lambda d: not has_delimiter_line(d, boundary)))
    return Part(draw(names), filename, draw(content_types), data, extended=filename is not None and draw(st.booleans()))


@st.composite
def forms(draw: st.DrawFn, min_parts: int = 0) -> Form:
    """A valid form: parts with boundary-like content, maybe a preamble, an
    epilogue and transport padding."""
    boundary = draw(st.sampled_from(BOUNDARIES))
    form_parts = draw(st.lists(parts(boundary), min_size=min_parts, max_size=4))
    preamble = draw(st.just(b"") | contents(boundary).filter(lambda d: not has_delimiter_line(d, boundary)))
    epilogue = draw(st.just(b"") | contents(boundary))
    padding = draw(st.sampled_from([b"", b" ", b"\t \t"]))
    final_crlf = draw(st.booleans())
    body = encode(boundary, form_parts, preamble, epilogue, padding, final_crlf)
    return Form(boundary, tuple(form_parts), body, preamble)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(boundary, body): a form with a few bytes deleted, inserted, replaced or
    duplicated, or cut short."""
    form = draw(forms())
    data = bytearray(form.body)
    specials = st.sampled_from(fragments(form.boundary) + [b"\x00", b":", b";", b'"', b"\\"])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]))
        if kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(specials | st.binary(min_size=1, max_size=4))
        elif kind == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 60))]
        else:
            del data[at:]
    return form.boundary, bytes(data)


cut_lists = st.lists(st.integers(min_value=0, max_value=2000), max_size=8)
max_datas = st.integers(min_value=1, max_value=64) | st.just(1 << 30)
