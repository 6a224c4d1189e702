"""The blob file format as pure functions on bytes."""

from __future__ import annotations

import json

import pytest

from adapters.storage.blobfile import (
    MAGIC,
    MAX_METADATA,
    TRAILER,
    CorruptBlob,
    decode_record,
    encode_tail,
    record_length,
)


def test_a_tail_round_trips_with_its_version() -> None:
    metadata = {"name": "ünï.txt", "sha256": "ab" * 32}
    tail = encode_tail(metadata)
    length = record_length(tail[-TRAILER.size:], 1000 + len(tail))
    record = tail[:-TRAILER.size]
    assert length == len(record)
    assert json.loads(record) == {"v": 1, **metadata}
    assert decode_record(record) == metadata


def test_records_written_before_the_version_field_read_as_version_1() -> None:
    assert decode_record(b'{"name":"old.bin","sha256":"00"}') == {"name": "old.bin", "sha256": "00"}


@pytest.mark.parametrize("raw", [b'{"v":2,"name":"x"}', b'{"v":"1"}', b"[1]", b"{", b'{"name":3}'])
def test_unknown_versions_and_bad_records_are_corrupt(raw: bytes) -> None:
    with pytest.raises(CorruptBlob):
        decode_record(raw)


def test_the_version_key_is_reserved() -> None:
    with pytest.raises(ValueError):
        encode_tail({"v": "1"})


@pytest.mark.parametrize("trailer, size", [
    (TRAILER.pack(b"NOTABLOB", 10), 100),
    (TRAILER.pack(MAGIC, 90), 100),  # record longer than the file allows
    (TRAILER.pack(MAGIC, MAX_METADATA + 1), 10 << 20),
    (TRAILER.pack(MAGIC, 1)[:-1], 100),
    (TRAILER.pack(MAGIC, 0), 10),  # file shorter than a trailer
])
def test_bad_trailers(trailer: bytes, size: int) -> None:
    with pytest.raises(CorruptBlob):
        record_length(trailer, size)
