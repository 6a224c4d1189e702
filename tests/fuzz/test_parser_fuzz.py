"""The bounded fuzz run of the request parser in the test suite (a few
seconds), and the inputs the long runs found, kept as regressions. The long,
coverage-guided run is ``python -m tests.fuzz.parser_fuzz --minutes 10``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz.parser_target import LIMITS, NO_LIMIT, PADS, check, check_linear, parse
from tests.fuzz.streams import cut_lists, max_datas, streams

REQUEST_LINE_AT_LIMIT = b"GET /" + b"a" * (LIMITS["max_request_line"] - 14) + b" HTTP/1.1"
HEADERS_AT_LIMIT = b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"a" * (LIMITS["max_header_bytes"] - 14) + b"\r\n"
# Streams whose meaning depended on how they were cut into reads (fixed in
# the parser): (stream, cut offsets).
REGRESSIONS = [
    # A request line exactly at the limit, its CR and LF in different reads:
    # 414 while the LF was missing, accepted when it came at once.
    (REQUEST_LINE_AT_LIMIT + b"\r\nHost: x\r\n\r\n", [len(REQUEST_LINE_AT_LIMIT) + 1]),
    # A header section exactly at the limit, the blank line cut after its CR:
    # 431 while waiting for the last LF, accepted when it came at once.
    (HEADERS_AT_LIMIT + b"\r\n", [len(HEADERS_AT_LIMIT) + 1]),
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=streams(), cuts=cut_lists, max_data=max_datas)
def test_parser_properties_hold_for_any_stream_and_any_cutting(data: bytes, cuts: list[int], max_data: int) -> None:
    check(data, cuts, max_data)


@pytest.mark.parametrize(("data", "cuts"), REGRESSIONS)
def test_streams_at_the_limits_mean_the_same_however_they_are_cut(data: bytes, cuts: list[int]) -> None:
    assert parse(data, [], NO_LIMIT).end == "closed"  # at the limit is still allowed
    check(data, cuts, NO_LIMIT)


TRAILER = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: ab\r\n\r\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=streams(), at=st.integers(0, 600), pad=st.sampled_from(PADS))
@example(data=b"GET / HTTP/1.1\r\nHost: x\r\nX: ab\r\n\r\n", at=29, pad=b" ")  # quadratic once
@example(data=b"GET / HTTP/1.1\nHost: x\nX: ab\n\n", at=27, pad=b"\t")
@example(data=TRAILER, at=TRAILER.index(b"T: a") + 4, pad=b" ")
def test_parsing_time_stays_linear_in_the_input_size(data: bytes, at: int, pad: bytes) -> None:
    check_linear(data, at, pad)
