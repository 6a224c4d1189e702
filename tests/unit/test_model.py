from __future__ import annotations

from datetime import datetime, timezone

import pytest

from domain.model import StoredFile, clean_content_type, clean_name, generated_name


@pytest.mark.parametrize("raw, expected", [
    ("x.pdf", "x.pdf"),
    ("  spaced name.txt ", "spaced name.txt"),
    ("/abs/path/file.bin", "file.bin"),
    ("..\\..\\win.ini", "win.ini"),
    ("bad\x00\r\nname\x7f.txt", "badname.txt"),
    ("\u202eevil.exe", "evil.exe"),  # bidi override is a format character
    ("..", None),
    ("/", None),
    ("", None),
    (None, None),
    ("naïve résumé.pdf", "naïve résumé.pdf"),
    ("a" * 300, "a" * 255),
])
def test_clean_name(raw: str | None, expected: str | None) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    (None, "application/octet-stream"),
    ("", "application/octet-stream"),
    ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ("text/html\r\nX: y", "application/octet-stream"),
    ("nonsense", "application/octet-stream"),
])
def test_clean_content_type(raw: str | None, expected: str) -> None:
    assert clean_content_type(raw) == expected


def test_generated_name_uses_a_known_extension_only() -> None:
    assert generated_name("abc", "image/png") == "abc.png"
    assert generated_name("abc", "application/octet-stream") == "abc"
    assert generated_name("abc", "x-unknown/thing") == "abc"


def test_metadata_round_trip() -> None:
    stored = StoredFile("abc", "n\u00e9.txt", 5, "text/plain", "00" * 32,
                        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert stored.created_rfc3339 == "2026-01-02T03:04:05Z"
    assert StoredFile.from_metadata("abc", 5, stored.to_metadata()) == stored
