"""The file format of a committed blob, and the raw calls on its files.

A committed blob is one file: the data, then the metadata record as UTF-8
JSON, then a 16-byte trailer (8-byte magic, 8-byte big-endian record
length). The record is versioned: ``{"v": 1, ...}`` with the metadata's
string fields beside ``v`` (a record without ``v``, written before it was
added, is version 1 too). ``encode_tail``, ``record_length`` and
``decode_record`` are pure functions on bytes; the other functions make
blocking calls and run in pool threads only.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Mapping, Sequence

from ports.storage import BlobInfo

MAGIC = b"UDSBLOB1"
TRAILER = struct.Struct(">8sQ")
TAIL_READ = 4096  # one pread of the tail usually covers metadata and trailer
MAX_METADATA = 1 << 20
IOV_MAX = 1024  # POSIX minimum of the largest writev() vector
RECORD_VERSION = 1


class CorruptBlob(OSError):
    """A file under objects/ that is not a valid committed blob."""


def encode_tail(metadata: Mapping[str, str]) -> bytes:
    """What follows a blob's data: its metadata record and the trailer."""
    if "v" in metadata:
        raise ValueError("'v' is the record's version, not a metadata field")
    record = json.dumps({"v": RECORD_VERSION, **metadata}, ensure_ascii=False, separators=(",", ":")).encode()
    return record + TRAILER.pack(MAGIC, len(record))


def record_length(trailer: bytes, file_size: int) -> int:
    """The length of the record before ``trailer`` (a file's last
    ``TRAILER.size`` bytes), checked against the file's size."""
    if file_size < TRAILER.size or len(trailer) != TRAILER.size:
        raise CorruptBlob("file too short for a trailer")
    magic, length = TRAILER.unpack(trailer)
    if magic != MAGIC or length > MAX_METADATA or length + TRAILER.size > file_size:
        raise CorruptBlob("bad trailer")
    return int(length)


def decode_record(raw: bytes) -> dict[str, str]:
    """The metadata of a record (its version checked and left out)."""
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise CorruptBlob("bad metadata") from exc
    if not isinstance(record, dict):
        raise CorruptBlob("bad metadata")
    version = record.pop("v", RECORD_VERSION)
    if version != RECORD_VERSION:
        raise CorruptBlob(f"metadata record version {version!r} is not supported")
    if not all(isinstance(value, str) for value in record.values()):
        raise CorruptBlob("bad metadata")
    return record


def write_all(fd: int, pieces: Sequence[bytes | bytearray]) -> None:
    """Write every piece, in order, with as few ``writev`` calls as the
    kernel allows (it may write less than asked: resume where it stopped).
    Linear in the number of pieces: an index walks them, nothing is popped,
    and only a piece written in part gets a view (of its remaining bytes)."""
    left: list[bytes | bytearray | memoryview] = [p for p in pieces if p]
    first = 0
    done = 0  # bytes of left[first] already written
    while first < len(left):
        window = left[first:first + IOV_MAX]
        if done:
            window[0] = memoryview(left[first])[done:]
        written = os.writev(fd, window) + done
        while first < len(left) and written >= len(left[first]):
            written -= len(left[first])
            first += 1
        done = written


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of a file to disk without waiting for it: on
    Linux, ``POSIX_FADV_DONTNEED`` submits the range's dirty pages for
    writeback (and drops pages of it that are already clean). Only a hint."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is not None:
        try:
            fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:  # pragma: no cover - a hint; fsync still makes it durable
            pass


def read_info(fd: int) -> BlobInfo:
    """Parse the trailer and metadata of an open blob file."""
    file_size = os.fstat(fd).st_size
    if file_size < TRAILER.size:
        raise CorruptBlob("file too short for a trailer")
    tail_start = max(0, file_size - TAIL_READ)
    tail = os.pread(fd, file_size - tail_start, tail_start)
    meta_len = record_length(tail[-TRAILER.size:], file_size)
    data_size = file_size - TRAILER.size - meta_len
    if meta_len + TRAILER.size <= len(tail):
        raw = tail[len(tail) - TRAILER.size - meta_len:len(tail) - TRAILER.size]
    else:
        raw = os.pread(fd, meta_len, data_size)
    return BlobInfo(size=data_size, metadata=decode_record(raw))


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
