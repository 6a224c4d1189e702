"""Durations for TTL flags and the Expires-In header: what is accepted, what is
refused (with a message), and that hostile input costs no more than short input."""

from __future__ import annotations

import time

import pytest

from domain.durations import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("45s", 45), ("1w", 604800),
    ("90", 90), ("0", 0), ("0s", 0), ("0d", 0), ("00", 0),
    ("1d12h", 129600), ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5), ("2h30m", 9000),
    (" 7d\t", 7 * 86400), ("000000000007d", 7 * 86400),
])
def test_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   ", "empty"), ("\t", "empty"),
    ("-5", "not a duration"), ("-1d", "not a duration"), ("+5", "not a duration"),
    ("1.5h", "not a duration"), ("1e3", "not a duration"), ("7D", "not a duration"), ("7 d", "not a duration"),
    ("7d 1h", "not a duration"), ("\n7d", "not a duration"), ("7d\n", "not a duration"),
    ("\u00a07d", "not a duration"), ("7y", "not a duration"), ("inf", "not a duration"), ("nan", "not a duration"),
    ("٣d", "not a duration"), ("²", "not a duration"), ("７", "not a duration"), ("1\x00", "not a duration"),
    ("d", "no number"), ("1dh", "no number"),
    ("12h1d", "largest first"), ("1h1h", "largest first"),
    ("1d12", "no unit"),
    ("1234567890123", "more than 12 digits"), ("9" * 13 + "s", "more than 12 digits"),
    ("9" * 33, "longer than 32 characters"), ("1" * 10_000_000, "longer than 32 characters"),
    ("5300w", "longer than 100 years"), (str(MAX_DURATION + 1), "longer than 100 years"),
])
def test_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_the_limit_itself_is_accepted() -> None:
    assert parse_duration(str(MAX_DURATION)) == MAX_DURATION


def test_huge_input_costs_no_more_than_short_input() -> None:
    def cost(text: str) -> float:
        start = time.perf_counter()
        for _ in range(200):
            with pytest.raises(ValueError):
                parse_duration(text)
        return time.perf_counter() - start

    short = min(cost("9" * 33) for _ in range(3))
    huge = min(cost("9" * 5_000_000) for _ in range(3))
    assert huge < short * 8 + 0.05


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (45, "45s"), (90, "1m30s"), (3600, "1h"), (129600, "1d12h"), (7 * 86400, "7d"),
    (0.4, "0s"), (59.6, "1m"), (-90, "-1m30s"), (float("inf"), "inf"), (float("nan"), "nan"),
])
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, 1, 59, 61, 3599, 3601, 86399, 86401, 10 ** 6, 123456789, MAX_DURATION])
def test_format_reads_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
