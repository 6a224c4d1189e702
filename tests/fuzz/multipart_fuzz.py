"""The long fuzz run of the multipart/form-data parser (not part of the test suite).

    pip install -r tests/fuzz/requirements.txt     # atheris, coverage-guided
    python -m tests.fuzz.multipart_fuzz --minutes 10 [--corpus DIR]

With atheris (libFuzzer) the parser is instrumented for coverage and the
corpus grows in ``--corpus`` (seeded with valid forms; keep it between runs).
A failing input is written as ``crash-<sha1>`` in the corpus directory's
parent and can be replayed with ``--replay FILE``. Without atheris the same
target runs under hypothesis, batch after batch, until the time is up.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.fuzz.driver import Fuzzer, main

SEEDS = [
    b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n--B--\r\n',
    b'preamble\r\n--B \r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n--\r\n--Bx\r\n--B\r\n"
    b"Content-Disposition: form-data; name=t\r\n\r\n\r\n--B--",
    b"--B\r\nContent-Disposition: form-data; name=\"e\"; filename*=UTF-8''%C3%A9.txt\r\n\r\n\r\n--B--\r\nepilogue",
    b"--B--",
]
# Header the seeds with the ``decode`` fields: boundary "B", unlimited max_data, two cuts.
SEEDS = [b"\x00\x00\x02\x00\x07\x00\x1d" + seed for seed in SEEDS]


def run_hypothesis(minutes: float) -> None:
    from hypothesis import HealthCheck, given, settings

    from tests.fuzz.multipart_streams import cut_lists, max_datas, mutated
    from tests.fuzz.multipart_target import check

    @settings(max_examples=5000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=mutated(), cuts=cut_lists, max_data=max_datas)
    def batch(body: tuple[bytes, bytes], cuts: list[int], max_data: int) -> None:
        check(body[0], body[1], cuts, max_data)

    deadline = time.monotonic() + minutes * 60
    batches = 0
    while time.monotonic() < deadline:
        batch()
        batches += 1
    print(f"hypothesis: {batches} batches of 5000 examples, no failure")


FUZZER = Fuzzer(
    doc=__doc__ or "",
    target="tests.fuzz.multipart_target",
    instrument=["adapters.http.multipart", "adapters.http.parameters"],
    seeds=SEEDS,
    dictionary="multipart.dict",
    default_corpus=Path(".fuzz/multipart-corpus"),
    run_hypothesis=run_hypothesis,
)


if __name__ == "__main__":
    main(FUZZER, sys.argv[1:])
