"""The benchmark's repeated big transfers: the median, and the clean-up that
makes every trial start alike (deleting only what the trial uploaded)."""

from __future__ import annotations

from pathlib import Path

from bench.loads import Transfer
from bench.suite import _files, median_transfer, remove_new_big_files


def test_median_transfer_is_the_middle_duration() -> None:
    trials = [Transfer(100, 3.0, 201), Transfer(100, 1.0, 201), Transfer(100, 2.0, 201)]
    assert median_transfer(trials).seconds == 2.0
    assert median_transfer(trials[:1]).seconds == 3.0


def test_remove_new_big_files_keeps_fixtures_and_small_files(tmp_path: Path) -> None:
    fixture = tmp_path / "data" / "big"
    fixture.parent.mkdir()
    fixture.write_bytes(b"x" * 1000)
    before = _files(tmp_path)
    uploaded = tmp_path / "objects" / "ab" / "abcdef"
    uploaded.parent.mkdir(parents=True)
    uploaded.write_bytes(b"y" * 1100)
    small = tmp_path / "server.log"
    small.write_bytes(b"log")
    assert remove_new_big_files(tmp_path, before, 1000) == 1
    assert fixture.exists() and small.exists() and not uploaded.exists()
