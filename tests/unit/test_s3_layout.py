"""The S3 store's blob record: exact round trip of any metadata, and every
malformed record refused as corrupt (never half-read)."""

from __future__ import annotations

import pytest

from adapters.s3.layout import BlobRecord, CorruptRecord, Layout, parse_record, record_body


def test_records_round_trip_any_strings() -> None:
    record = BlobRecord(12, "00ff", {"name": "\u00e9t\u00e9 \U0001F600 \"q\"\n%41.txt", "": "", "k": "\x00"})
    assert parse_record(record_body(record)) == record
    assert parse_record(record_body(record)).info.metadata == record.metadata


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"v": 2, "size": 1, "data": "t", "metadata": {}}',
    b'{"v": 1, "size": -1, "data": "t", "metadata": {}}', b'{"v": 1, "size": "1", "data": "t", "metadata": {}}',
    b'{"v": 1, "size": 1, "data": 5, "metadata": {}}', b'{"v": 1, "size": 1, "data": "t", "metadata": {"a": 1}}',
    b'{"v": 1, "size": 1, "data": "t", "metadata": []}', b'{"v": 1, "size": 1, "data": "t"}', b"\xff\xfe",
])
def test_malformed_records_are_corrupt(body: bytes) -> None:
    with pytest.raises(CorruptRecord):
        parse_record(body)


def test_keys_stay_under_the_prefix() -> None:
    layout = Layout("tenant/uploads/")
    assert layout.blob_key("abc") == "tenant/uploads/blobs/abc"
    assert layout.data_key("abc", "t1") == "tenant/uploads/data/abc/t1"
    assert (layout.blobs_prefix, layout.data_prefix) == ("tenant/uploads/blobs/", "tenant/uploads/data/")
