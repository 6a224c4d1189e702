"""The long fuzz run of the request parser (not part of the test suite).

    pip install -r tests/fuzz/requirements.txt     # atheris, coverage-guided
    python -m tests.fuzz.parser_fuzz --minutes 10 [--corpus DIR]

With atheris (libFuzzer) the parser is instrumented for coverage and the
corpus grows in ``--corpus`` (seeded with valid requests; keep it between runs).
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
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /check/abc HTTP/1.0\r\n\r\nGET /download/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"PUT /upload/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"POST /upload/ HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\nHost: y\n\n",
]
# Header the seeds with the ``decode`` fields: unlimited max_data, two cuts.
SEEDS = [b"\x00\x02\x00\x07\x00\x1d" + seed for seed in SEEDS]


def run_hypothesis(minutes: float) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz.parser_target import PADS, check, check_linear
    from tests.fuzz.streams import cut_lists, max_datas, streams

    @settings(max_examples=5000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=streams(), cuts=cut_lists, max_data=max_datas)
    def batch(data: bytes, cuts: list[int], max_data: int) -> None:
        check(data, cuts, max_data)

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=streams(), at=st.integers(0, 600), pad=st.sampled_from(PADS))
    def linear_batch(data: bytes, at: int, pad: bytes) -> None:
        check_linear(data, at, pad)

    deadline = time.monotonic() + minutes * 60
    batches = 0
    while time.monotonic() < deadline:
        batch()
        linear_batch()
        batches += 1
    print(f"hypothesis: {batches} batches of 5000 examples (and 200 of check_linear), no failure")


FUZZER = Fuzzer(
    doc=__doc__ or "",
    target="tests.fuzz.parser_target",
    instrument=["adapters.http.parser", "adapters.http.request_head", "adapters.http.target"],
    seeds=SEEDS,
    dictionary="http.dict",
    default_corpus=Path(".fuzz/parser-corpus"),
    run_hypothesis=run_hypothesis,
)


if __name__ == "__main__":
    main(FUZZER, sys.argv[1:])
