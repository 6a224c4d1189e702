"""The tus header parsers (sans-I/O): exact values, bounded and linear on
hostile input; and the ``--resumable-ttl`` setting."""

from __future__ import annotations

import time

import pytest

from adapters.http.tus_headers import (
    MAX_METADATA_CHARS,
    TusHeaderError,
    effective_method,
    encode_metadata,
    is_offset_stream,
    metadata_text,
    parse_checksum,
    parse_deferred,
    parse_metadata,
    parse_size,
)
from config import ConfigError, parse_config


def test_sizes_are_plain_ascii_digits() -> None:
    assert parse_size({"upload-length": " 42 "}, "Upload-Length") == 42
    assert parse_size({}, "Upload-Length") is None
    for bad in ("", "-1", "+1", "1.0", "0x10", "\u0661", "1" * 19, "1 2"):
        with pytest.raises(TusHeaderError):
            parse_size({"upload-offset": bad}, "Upload-Offset")


def test_defer_length_is_one_or_nothing() -> None:
    assert parse_deferred({"upload-defer-length": "1"}) and not parse_deferred({})
    with pytest.raises(TusHeaderError):
        parse_deferred({"upload-defer-length": "true"})


def test_metadata_pairs_round_trip() -> None:
    pairs = parse_metadata("filename csOpc3Vtw6kucGRm, filetype YXBwbGljYXRpb24vcGRm,is_confidential")
    assert pairs == {"filename": "résumé.pdf".encode(), "filetype": b"application/pdf", "is_confidential": b""}
    assert metadata_text(pairs, "name", "filename") == "résumé.pdf"
    assert metadata_text(pairs, "type") is None
    assert parse_metadata("") == {} and parse_metadata("  ") == {}
    assert parse_metadata(encode_metadata({"filename": "a b,c.txt"})) == {"filename": b"a b,c.txt"}
    assert metadata_text({"filename": b"\xff"}, "filename") == "\ufffd"


@pytest.mark.parametrize("value", ["a,a", ",", "a b c", "k/", "a YQ==x", "sp ace x", "a YQ", "é YQ=="])
def test_malformed_metadata_is_refused(value: str) -> None:
    with pytest.raises(TusHeaderError):
        parse_metadata(value)


def test_metadata_is_bounded_and_linear_on_hostile_input() -> None:
    with pytest.raises(TusHeaderError, match="longer"):
        parse_metadata("a " + "A" * MAX_METADATA_CHARS)
    with pytest.raises(TusHeaderError, match="pairs"):
        parse_metadata(",".join(f"k{i}" for i in range(33)))

    def cost(n: int) -> float:
        """The best of several timings: a busy machine only ever adds time."""
        value = "k " + "A" * n
        timings = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(100):
                try:
                    parse_metadata(value)
                except TusHeaderError:
                    pass
            timings.append(time.perf_counter() - started)
        return min(timings)

    cost(1000)  # warm up
    assert cost(4000) / cost(1000) < 8  # linear: about 4 (quadratic would be about 16)


def test_checksums() -> None:
    checksum = parse_checksum({"upload-checksum": "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="})
    assert checksum is not None and checksum.algorithm == "sha1" and len(checksum.digest) == 20
    assert parse_checksum({}) is None
    for bad in ("crc32 AAAAAA==", "sha1", "sha1 !!!!", "sha256 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "md5"):
        with pytest.raises(TusHeaderError):
            parse_checksum({"upload-checksum": bad})


def test_content_type_and_method_override() -> None:
    assert is_offset_stream({"content-type": "Application/Offset+Octet-Stream; charset=x"})
    assert not is_offset_stream({"content-type": "application/octet-stream"}) and not is_offset_stream({})
    assert effective_method("POST", {"x-http-method-override": " patch "}) == "PATCH"
    assert effective_method("HEAD", {}) == "HEAD"


def test_resumable_ttl_setting() -> None:
    assert parse_config([], {}).resumable_ttl == 86400
    assert parse_config(["--resumable-ttl", "1d12h"], {}).resumable_ttl == 129600
    assert parse_config([], {"UDS_RESUMABLE_TTL": "90"}).resumable_ttl == 90
    for bad in ("0", "-1", "1x", "soon"):
        with pytest.raises(ConfigError, match="resumable-ttl"):
            parse_config(["--resumable-ttl", bad], {})
