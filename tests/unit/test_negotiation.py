"""Accept negotiation: q-values, specificity, JSON as the default, and a
parse linear in the header's length."""

from __future__ import annotations

from typing import Callable

import pytest

from adapters.http.negotiation import MAX_ELEMENTS, choose
from tests.unit.test_headers import best_seconds

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OFFERS = (JSON, TEXT)


@pytest.mark.parametrize("accept, expected", [
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),  # curl's default
    ("text/plain", TEXT),
    ("TEXT/Plain", TEXT),
    ("text/*", TEXT),
    ("text/plain, application/json", JSON),  # equal q: the default
    ("application/json, text/plain", JSON),
    ("text/plain;q=0.9, */*;q=0.1", TEXT),
    ("application/json;q=0.5, text/plain", TEXT),
    ("application/json;q=0.5, text/plain;q=0.5", JSON),
    ("text/plain;q=0", JSON),
    ("text/plain;q=0, */*", JSON),
    ("application/json;q=0, text/plain;q=0", JSON),  # nothing acceptable: the default rather than 406
    ("application/json;q=0, */*", TEXT),
    ("text/plain; charset=utf-8", TEXT),
    ('text/plain; charset="UTF-8"', TEXT),
    ("text/plain; charset=latin-1", JSON),  # a parameter we do not offer: that range does not match
    ("text/plain; charset=latin-1, text/*;q=0.5", TEXT),
    ("text/plain;q=0.2, text/plain;charset=utf-8;q=0.8, application/json;q=0.5", TEXT),  # most specific wins
    ("text/*;q=0.9, text/plain;q=0.1, application/json;q=0.5", JSON),
    ("text/plain;q=2", JSON),  # a malformed q: the element is ignored
    ("text/plain;q=0.1234", JSON),
    ("text/plain;q=abc, application/json;q=0.1", JSON),
    ("text/plain;q=1.000", TEXT),
    ("text/plain ; q = 0.8 ; ext=1, application/json;q=0.7", TEXT),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser's
    ("text, plain, /, text/", JSON),
    ('application/json;v="a,text/plain", text/plain;q=0.1', TEXT),  # a quoted comma does not split
    ('text/plain;q=0.1, application/json;v="x\\",y"', TEXT),
    (",,, ,text/plain", TEXT),
])
def test_the_preferred_offer(accept: str | None, expected: str) -> None:
    assert choose(accept, OFFERS) == expected


def test_only_the_first_elements_count() -> None:
    padding = ", ".join(["image/png"] * MAX_ELEMENTS)
    assert choose("text/plain, " + padding, OFFERS) == TEXT
    assert choose(padding + ", text/plain", OFFERS) == JSON


@pytest.mark.parametrize("padded", [
    lambda n: "text/plain;" * n,
    lambda n: "text/plain;q=0.5" + " " * n,
    lambda n: 'text/plain;a="' + "\\\"," * n,
    lambda n: 'a/b;x="' + ";" * n + '", text/plain',
    lambda n: "," * n + "text/plain",
    lambda n: "text/plain" + ";q=1" * n,
])
def test_parsing_time_is_linear(padded: Callable[[int], str]) -> None:
    """8 times the header may cost about 8 times the time (quadratic would be 64)."""
    small = best_seconds(lambda: choose(padded(2000), OFFERS))
    large = best_seconds(lambda: choose(padded(16000), OFFERS))
    assert large < 24 * small + 0.002, (small, large)
