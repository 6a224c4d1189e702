"""What the long fuzz runs of every parser share (not part of the test suite):
the command line, the atheris (libFuzzer) set-up with a seeded corpus, and
the fallback to a target's hypothesis batches when atheris is not installed.
Each ``*_fuzz.py`` names its target module, seeds, dictionary and batches."""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Fuzzer:
    doc: str
    target: str  # the module with ``check_encoded(bytes)`` and ``decode(bytes)``
    instrument: Sequence[str]  # the modules atheris instruments for coverage
    seeds: Sequence[bytes]
    dictionary: str  # a file beside this one
    default_corpus: Path
    run_hypothesis: Callable[[float], None]


def run_atheris(fuzzer: Fuzzer, atheris: Any, minutes: float, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for n, seed in enumerate(fuzzer.seeds):
            (corpus / f"seed-{n}").write_bytes(seed)
    with atheris.instrument_imports(include=[*fuzzer.instrument, fuzzer.target]):
        target = importlib.import_module(fuzzer.target)
    check_encoded: Callable[[bytes], None] = target.check_encoded
    atheris.Setup([
        sys.argv[0], str(corpus),
        f"-max_total_time={int(minutes * 60)}",
        f"-dict={HERE / fuzzer.dictionary}",
        "-max_len=1024",
        "-print_final_stats=1",
        f"-artifact_prefix={corpus.parent}/",
    ], check_encoded)
    atheris.Fuzz()  # exits the process when the time is up or on a finding


def main(fuzzer: Fuzzer, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=fuzzer.doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--corpus", type=Path, default=fuzzer.default_corpus)
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None,
                        help="default: atheris when installed")
    parser.add_argument("--replay", type=Path, help="run the target once on this input file and exit")
    args = parser.parse_args(argv)
    if args.replay:
        target = importlib.import_module(fuzzer.target)
        print(target.decode(args.replay.read_bytes()))
        target.check_encoded(args.replay.read_bytes())
        print("no failure")
        return
    atheris = None
    if args.engine != "hypothesis":
        try:
            atheris = importlib.import_module("atheris")
        except ImportError:
            if args.engine == "atheris":
                raise SystemExit("atheris is not installed: pip install -r tests/fuzz/requirements.txt")
    if atheris is not None:
        run_atheris(fuzzer, atheris, args.minutes, args.corpus)
    else:
        fuzzer.run_hypothesis(args.minutes)
