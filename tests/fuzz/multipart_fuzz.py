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

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
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


def run_atheris(atheris: Any, minutes: float, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for n, seed in enumerate(SEEDS):
            (corpus / f"seed-{n}").write_bytes(seed)
    with atheris.instrument_imports(include=["adapters.http.multipart", "tests.fuzz.multipart_target"]):
        target = importlib.import_module("tests.fuzz.multipart_target")
    check_encoded: Callable[[bytes], None] = target.check_encoded
    atheris.Setup([
        sys.argv[0], str(corpus),
        f"-max_total_time={int(minutes * 60)}",
        f"-dict={HERE / 'multipart.dict'}",
        "-max_len=1024",
        "-print_final_stats=1",
        f"-artifact_prefix={corpus.parent}/",
    ], check_encoded)
    atheris.Fuzz()  # exits the process when the time is up or on a finding


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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--corpus", type=Path, default=Path(".fuzz/multipart-corpus"))
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None,
                        help="default: atheris when installed")
    parser.add_argument("--replay", type=Path, help="run the target once on this input file and exit")
    args = parser.parse_args(argv)
    if args.replay:
        from tests.fuzz.multipart_target import check_encoded, decode

        print(decode(args.replay.read_bytes()))
        check_encoded(args.replay.read_bytes())
        print("no failure")
        return
    engine = args.engine
    atheris = None
    if engine != "hypothesis":
        try:
            atheris = importlib.import_module("atheris")
        except ImportError:
            if engine == "atheris":
                raise SystemExit("atheris is not installed: pip install -r tests/fuzz/requirements.txt")
    if atheris is not None:
        run_atheris(atheris, args.minutes, args.corpus)
    else:
        run_hypothesis(args.minutes)


if __name__ == "__main__":
    main(sys.argv[1:])
