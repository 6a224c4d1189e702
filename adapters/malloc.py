"""Big buffers off the C heap, so that the memory they took goes back to the
system when they are freed.

glibc's malloc serves a request of at least ``M_MMAP_THRESHOLD`` bytes with
a mapping of its own, unmapped on free; but the threshold moves: each time
such a block is freed, it rises to that block's size (up to 32 MiB). After
the first S3 part (8 MiB) is freed, every later part comes from the heap
and threads' arenas, where freed space mostly stays resident: a 1 GiB
upload to S3 peaked at 74 MiB of RSS, 52 MiB with the threshold fixed at
4 MiB (``bench/s3.py``). Setting the threshold with ``mallopt`` fixes it
there (and turns the moving off). Buffers under 4 MiB (request bodies are
read in 1 MiB pieces at most) are not concerned, so nothing else changes.

Standard library only: ``ctypes`` reaches ``mallopt`` in the C library the
interpreter already runs on. Elsewhere (musl, as in the Alpine image, whose
malloc maps big blocks anyway; macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
BIG_BUFFER = 4 << 20


def glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):
        return False


def keep_big_buffers_off_the_heap(threshold: int = BIG_BUFFER) -> bool:
    """Blocks of ``threshold`` bytes or more get mappings of their own from
    now on; False where the C library is not glibc (nothing done)."""
    if not glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
