"""``adapters/malloc.py``: after the call, a big buffer gets a mapping of its
own even once glibc would have raised its threshold past it (the moving
threshold kept freed S3 parts resident). Each case runs in a fresh
interpreter: the setting is per process and cannot be undone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.malloc import glibc

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys
    from adapters.malloc import keep_big_buffers_off_the_heap

    def mappings():
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)

    done = keep_big_buffers_off_the_heap() if sys.argv[1] == "set" else None
    freed = bytearray(16 << 20)
    del freed  # glibc now serves anything up to 16 MiB from the heap, unless told otherwise
    before = mappings()
    kept = bytearray(6 << 20)
    print(done, mappings() - before)
""")


def new_mappings(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@pytest.mark.skipif(not glibc() or not Path("/proc/self/maps").exists(), reason="glibc on Linux only")
def test_a_big_buffer_gets_its_own_mapping_after_the_threshold_would_have_risen() -> None:
    assert new_mappings("leave") == "None 0"  # what happens without it: from the heap, stays resident once freed
    assert new_mappings("set") == "True 1"
