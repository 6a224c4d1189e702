from __future__ import annotations

import time
from typing import Callable

import pytest

from adapters.http.headers import (
    UNSATISFIABLE,
    attachment,
    byte_range,
    disposition_filename,
    etag_for,
    etag_matches,
)
from adapters.http.response import HeaderInjection, build_head


@pytest.mark.parametrize("value, expected", [
    ('attachment; filename="x.pdf"', "x.pdf"),
    ("attachment; filename=x.pdf", "x.pdf"),
    ('attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
    ('attachment; filename="fallback.txt"; filename*=UTF-8\'\'na%C3%AFve%20%E2%82%AC.txt', "naïve €.txt"),
    ("attachment; filename*=utf-8'en'%E6%96%87%E4%BB%B6.txt", "文件.txt"),
    ("attachment; filename*=iso-8859-1''caf%E9.txt", "café.txt"),
    ('form-data; name="file"; filename="up.bin"', "up.bin"),
    ('attachment; FILENAME="upper.txt"', "upper.txt"),
    ("attachment; filename*=UTF-8''%FF%FE; filename=\"plain.txt\"", "plain.txt"),
    ('attachment; filename="caf\xc3\xa9.txt"', "café.txt"),  # raw UTF-8 bytes as a browser sends them
    ("attachment", None),
    ("attachment; name=x", None),
])
def test_disposition_filename(value: str, expected: str | None) -> None:
    assert disposition_filename(value) == expected


@pytest.mark.parametrize("name", ["x.pdf", 'q"uote\\.txt', "naïve €.txt", "line\r\nbreak", "%41.txt", ""])
def test_attachment_header_is_safe_and_exact(name: str) -> None:
    value = attachment(name)
    assert all(" " <= c <= "~" for c in value)
    assert disposition_filename(value) == name or (name == "" and disposition_filename(value) in ("", "download"))
    build_head(200, [("Content-Disposition", value)])  # never raises


def test_response_head_refuses_header_injection() -> None:
    with pytest.raises(HeaderInjection):
        build_head(200, [("X", "a\r\nSet-Cookie: evil")])
    head = build_head(201, [("Location", "http://h/x")])
    assert head.startswith(b"HTTP/1.1 201 Created\r\nDate: ")
    assert head.endswith(b"Location: http://h/x\r\n\r\n")


@pytest.mark.parametrize("value, expected", [
    ("bytes=0-9", (0, 10)),
    ("bytes=10-", (10, 100)),
    ("bytes=-10", (90, 100)),
    ("bytes=-1000", (0, 100)),
    ("bytes=90-1000", (90, 100)),
    ("bytes= 5 - 6 ", (5, 7)),
    ("BYTES=0-0", (0, 1)),
    ("bytes=99-99", (99, 100)),
    ("bytes=100-", UNSATISFIABLE),
    ("bytes=100-200", UNSATISFIABLE),
    ("bytes=-0", UNSATISFIABLE),
    ("bytes=0-1,5-6", None),
    ("bytes=5-1", None),
    ("bytes=a-b", None),
    ("bytes=-", None),
    ("bytes=5", None),
    ("items=0-1", None),
    ("bytes=\u0661-2", None),
    ("", None),
    # Positions of more than 18 digits lie past the end of any file; int()
    # of 5,000 digits raised ValueError (a 500), and costs quadratic time.
    ("bytes=" + "9" * 5000 + "-", UNSATISFIABLE),
    ("bytes=0-" + "9" * 5000, (0, 100)),
    ("bytes=-" + "9" * 5000, (0, 100)),
    ("bytes=" + "9" * 5000 + "-" + "9" * 6000, UNSATISFIABLE),
    ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", (5, 10)),  # leading zeros are still exact
    ("bytes=-" + "0" * 5000, UNSATISFIABLE),
    ("bytes=" + "9" * 19 + "-5", None),  # last before first: invalid, ignored
])
def test_byte_range(value: str, expected: object) -> None:
    assert byte_range(value, 100) == expected


def test_etags() -> None:
    tag = etag_for("ab" * 32)
    assert tag == '"' + "ab" * 32 + '"'
    assert etag_matches(tag, tag)
    assert etag_matches(f'"other", W/{tag}', tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"other"', tag)


def best_seconds(function: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - began)
    return best


@pytest.mark.parametrize("padded", [
    lambda n: "attachment;" + " " * n,
    lambda n: "attachment;" + " " * n + "x",
    lambda n: "attachment; filename=" + " " * n,
    lambda n: "attachment; filename" + " " * n + "x",
    lambda n: "attachment" + "; a" * n,
    lambda n: "attachment" + ';a="' * n,
    lambda n: 'attachment; filename="' + "\\" * n,
    lambda n: 'attachment; filename="' + "\\;" * n,
], ids=["spaces", "spaces-then-junk", "spaces-after-equals", "spaces-before-junk", "many-names",
        "open-quotes", "backslashes", "escaped-semicolons"])
def test_disposition_parsing_time_is_linear(padded: Callable[[int], str]) -> None:
    """``attachment;`` and 30,000 spaces cost seconds with a regex scanning
    from every position; 8 times the input may cost about 8 times the time."""
    small = best_seconds(lambda: disposition_filename(padded(2000)))
    large = best_seconds(lambda: disposition_filename(padded(16000)))
    assert large < 24 * small + 0.002, (small, large)


@pytest.mark.parametrize("value, expected", [
    ("attachment;" + " " * 30000 + "filename=x.txt", "x.txt"),
    ("attachment;" + " " * 30000 + "; filename=x.txt", "x.txt"),
    ("attachment; filename =  \"sp aced.txt\" ", "sp aced.txt"),
    ("attachment; junk; filename=x.txt", "x.txt"),
    ("attachment; a=\"; filename=evil\"; filename=good", "good"),  # a ';' inside a quoted value
    ('attachment; filename="unterminated.txt', None),
    ("attachment; filename=caf\xc3\xa0.txt", "caf\xe0.txt"),  # raw UTF-8 whose 2nd byte is latin-1 NBSP
    ("attachment; filename=caf\xe9.txt", "caf\xe9.txt"),  # latin-1, not UTF-8: kept as it came
])
def test_disposition_filename_edge_cases(value: str, expected: str | None) -> None:
    assert disposition_filename(value) == expected
