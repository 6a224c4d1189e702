"""Property tests of the sans-I/O parser: whatever bytes arrive, in whatever
pieces, it raises nothing but ``ParseError`` / ``IncompleteMessage``, never
stops making progress, never waits for more bytes once the peer has closed,
and parses valid requests the same however they are split.

Bounded (a few hundred examples each, small inputs, no example database) so
the suite stays fast and deterministic; set HYPOTHESIS_PROFILE=long to
search much harder locally."""

from __future__ import annotations

import os
from dataclasses import astuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.http.parser import (
    CLOSED,
    NEED_DATA,
    Data,
    IncompleteMessage,
    ParseError,
    Request,
    RequestParser,
)
from adapters.http.request_head import _checked_fields, _fast_fields

settings.register_profile("default", max_examples=300, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

VALID = [
    b"GET /check/abc?x=1 HTTP/1.1\r\nHost: h:80\r\nAccept: */*\r\n\r\n",
    b"HEAD /download/abc HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\nIf-Range: \"e\"\r\n\r\n",
    b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\nhello world",
    b"PUT /upload/a.txt HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"\r\nGET / HTTP/1.1\nHost: h\n\n",
]
# Bytes that matter to the grammar, so mutations hit interesting cases.
SPECIAL = [b"\r", b"\n", b"\r\n", b":", b" ", b"\t", b"\x00", b";", b",", b"0", b"f", b"-", b"chunked",
           b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"HTTP/1.1", b"\r\n\r\n", b"\xff"]

LIMITS = dict(max_request_line=256, max_header_bytes=512, max_headers=8, max_chunk_line=64)


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        if kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=4))
        elif kind == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def run_parser(pieces: list[bytes], eof: bool, max_data: int) -> list[object]:
    """Feed the pieces, drain after each, then EOF if asked. Checks progress
    on the way; returns the events. Only our two errors may escape."""
    parser = RequestParser(**LIMITS)
    events: list[object] = []
    total = sum(len(p) for p in pieces)
    budget = 4 * total + 20  # no input can justify more events than this

    def drain(after_eof: bool) -> None:
        nonlocal budget
        while True:
            budget -= 1
            assert budget > 0, "the parser keeps producing events without consuming input"
            event = parser.next_event(max_data)
            if event is NEED_DATA:
                assert not after_eof, "NEED_DATA after EOF: a connection would wait forever"
                return
            if event is CLOSED:
                events.append("closed")
                return
            if isinstance(event, Data):
                assert 0 < len(event.data) <= max_data
                events.append(event.data)
            else:
                events.append(astuple(event) if isinstance(event, Request) else event)

    for piece in pieces:
        parser.feed(piece)
        drain(False)
    if eof:
        parser.feed_eof()
        drain(True)
    return events


def outcome(pieces: list[bytes], eof: bool, max_data: int) -> tuple[object, ...]:
    """("ok", events), ("error", status) or ("incomplete",)."""
    try:
        return ("ok", merge_data(run_parser(pieces, eof, max_data)))
    except ParseError as exc:
        assert 400 <= exc.status <= 599
        return ("error", exc.status)
    except IncompleteMessage:
        return ("incomplete",)


def merge_data(events: list[object]) -> list[object]:
    """Join consecutive Data payloads: how the body is cut is not a result."""
    merged: list[object] = []
    for event in events:
        if isinstance(event, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += event
        else:
            merged.append(event)
    return merged


@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=8), st.booleans(), st.integers(1, 64))
def test_random_bytes_only_raise_our_errors_and_never_hang(
        data: bytes, cuts: list[int], eof: bool, max_data: int) -> None:
    outcome(pieces_of(data, cuts), eof, max_data)


@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_head_only_raise_our_errors(tail: bytes) -> None:
    for head in (VALID[2].split(b"\r\n\r\n")[0] + b"\r\n\r\n", VALID[3].split(b"\r\n\r\n")[0] + b"\r\n\r\n"):
        outcome([head, tail], True, 16)


@given(mutated_requests(), st.lists(st.integers(0, 10_000), max_size=6), st.booleans(), st.integers(1, 64))
def test_mutated_requests_give_the_same_outcome_however_they_are_split(
        data: bytes, cuts: list[int], eof: bool, max_data: int) -> None:
    whole = outcome([data], eof, 1 << 20)
    split = outcome(pieces_of(data, cuts), eof, max_data)
    if whole[0] == "ok":
        assert split == whole
    else:
        # The status may differ (a size limit can fire on a prefix before a
        # rule checked on the complete head), the verdict may not.
        assert split[0] == whole[0], (whole, split)


@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=4), st.lists(st.integers(0, 10_000), max_size=10),
       st.integers(1, 64))
def test_pipelined_valid_requests_parse_identically_at_any_split(
        requests: list[bytes], cuts: list[int], max_data: int) -> None:
    data = b"".join(requests)
    whole = outcome([data], True, 1 << 20)
    assert whole[0] == "ok"
    assert outcome(pieces_of(data, cuts), True, max_data) == whole


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """Request heads (blank line excluded, as ``_parse_head`` gets them),
    mutated around the grammar's delimiters."""
    raw = draw(mutated_requests())
    end = raw.find(b"\n\r\n")
    end = end if end >= 0 else raw.find(b"\n\n")
    return raw[:end] if end >= 0 else raw


@given(heads())
def test_fast_and_checked_head_paths_agree(head: bytes) -> None:
    # The fast path may decline (None) but must never accept a head the
    # line-by-line path refuses, nor read an accepted one differently.
    fast = _fast_fields(head)
    try:
        checked = _checked_fields(head)
    except ParseError:
        assert fast is None
        return
    assert fast is None or fast == checked


def test_fast_path_takes_the_common_requests() -> None:
    for raw in VALID:
        head = raw.split(b"\n\r\n")[0] if b"\n\r\n" in raw else raw.split(b"\n\n")[0]
        assert _fast_fields(head.lstrip(b"\r\n")) is not None, head
