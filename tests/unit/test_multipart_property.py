"""Property tests of the multipart/form-data parser on valid forms whose
content is full of boundary-like bytes: however the body is cut into reads,
the parts that come out are exactly the parts that were encoded, and the
standard library's email parser (a non-streaming reference) reads the same
names, file names and content.

Bounded (a few hundred examples, no example database, derandomized) so the
suite stays fast and deterministic; set HYPOTHESIS_PROFILE=long to search
much harder locally."""

from __future__ import annotations

import email.parser
import email.policy
import os
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.http.multipart import END, NEED_DATA, PART_END, MultipartParser, PartData, PartStart, boundary_of
from tests.fuzz.multipart_streams import Form, cut_lists, forms, max_datas

settings.register_profile("multipart", max_examples=300, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("multipart-long", max_examples=20_000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PROFILE = settings.get_profile("multipart-long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "multipart")

Parsed = list[tuple[str, str | None, str | None, bytes]]


def parse(form: Form, cuts: list[int], max_data: int = 1 << 20) -> Parsed:
    """(name, filename, content type, content) of every part, feeding the
    body cut at ``cuts``; holds the buffer to its high-water mark."""
    parser = MultipartParser(boundary_of(form.content_type))
    parts: Parsed = []
    bounds = [0, *sorted({c % (len(form.body) + 1) for c in cuts}), len(form.body)]
    ended = False

    def drain() -> None:
        nonlocal ended
        while not ended:
            event = parser.next_event(max_data)
            if event is NEED_DATA:
                assert parser.buffered <= parser.high_water
                return
            if isinstance(event, PartStart):
                parts.append((event.name, event.filename, event.content_type, b""))
            elif isinstance(event, PartData):
                assert 0 < len(event.data) <= max_data
                name, filename, content_type, data = parts[-1]
                parts[-1] = (name, filename, content_type, data + event.data)
            else:
                assert event is PART_END or event is END
                ended = event is END

    for start, stop in zip(bounds, bounds[1:]):
        parser.feed(form.body[start:stop])
        drain()
    parser.feed_eof()
    drain()
    assert ended
    return parts


def encoded(form: Form) -> Parsed:
    return [(p.name, p.filename, p.content_type, p.data) for p in form.parts]


@PROFILE
@given(forms(), cut_lists, max_datas)
def test_any_cutting_of_a_valid_form_gives_the_encoded_parts(form: Form, cuts: list[int], max_data: int) -> None:
    assert parse(form, [], 1 << 30) == encoded(form)
    assert parse(form, cuts, max_data) == encoded(form)


@settings(PROFILE, max_examples=min(PROFILE.max_examples, 100))
@given(forms(), st.integers(0, 1 << 16))
def test_every_single_cut_and_byte_by_byte_give_the_encoded_parts(form: Form, seed: int) -> None:
    body = form.body
    at = seed % (len(body) + 1)
    assert parse(form, [at]) == encoded(form)
    assert parse(form, list(range(len(body)))) == encoded(form)


def email_parts(form: Form) -> Parsed:
    """The parts as the standard library's email parser reads them."""
    head = f"Content-Type: {form.content_type}\r\n\r\n".encode("ascii")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + form.body)
    assert message.is_multipart()
    parts: Parsed = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        media_type = part.get_content_type() if "content-type" in part else None
        parts.append((str(part.get_param("name", header="content-disposition")), part.get_filename(),
                      media_type, payload))
    return parts


def email_reads_alike(form: Form) -> bool:
    """The email parser takes a bare CR or LF for a line break, so a boundary
    line after one is a boundary to it, not to RFC 2046 (nor to us): such
    forms, and names it unquotes differently, are not compared."""
    line_break = rb"(?:\r\n|\r|\n)"
    boundary_line = re.compile(line_break + re.escape(b"--" + form.boundary) + rb"(?:--)?[ \t]*" + line_break)
    if any(boundary_line.search(b"\n" + data + b"\r\n") for data in [form.preamble] + [p.data for p in form.parts]):
        return False
    for part in form.parts:
        for text in (part.name, part.filename or ""):
            if "\\" in text or "\"" in text or text != text.strip():
                return False
    return True


@PROFILE
@given(forms(min_parts=1))
def test_the_email_parser_reads_the_same_parts(form: Form) -> None:
    assume(email_reads_alike(form))
    ours = [(name, filename, None if media is None else media.split(";")[0], data)
            for name, filename, media, data in parse(form, [])]
    assert ours == email_parts(form)
