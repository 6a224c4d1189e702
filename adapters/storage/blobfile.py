"""The file format of a committed blob, and the raw calls on its files.

A committed blob is one file: the data, then the metadata as UTF-8 JSON, then
a 16-byte trailer (8-byte magic, 8-byte big-endian metadata length). Every
function here makes blocking calls: they run in pool threads only.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Sequence

from ports.storage import BlobInfo

MAGIC = b"UDSBLOB1"
TRAILER = struct.Struct(">8sQ")
TAIL_READ = 4096  # one pread of the tail usually covers metadata and trailer
MAX_METADATA = 1 << 20
IOV_MAX = 1024  # POSIX minimum of the largest writev() vector


class CorruptBlob(OSError):
    """A file under objects/ that is not a valid committed blob."""


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
    magic, meta_len = TRAILER.unpack(tail[-TRAILER.size:])
    if magic != MAGIC or meta_len > MAX_METADATA or meta_len + TRAILER.size > file_size:
        raise CorruptBlob("bad trailer")
    data_size = file_size - TRAILER.size - meta_len
    if meta_len + TRAILER.size <= len(tail):
        raw = tail[len(tail) - TRAILER.size - meta_len:len(tail) - TRAILER.size]
    else:
        raw = os.pread(fd, meta_len, data_size)
    try:
        metadata = json.loads(raw)
    except ValueError as exc:
        raise CorruptBlob("bad metadata") from exc
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptBlob("bad metadata")
    return BlobInfo(size=data_size, metadata=metadata)


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
