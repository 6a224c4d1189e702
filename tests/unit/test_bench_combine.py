"""The benchmark's ``--repeat``: each row the round with the median figure,
the targets of issue 18 the median of the rounds' ratios."""

from __future__ import annotations

from bench.combine import combine
from bench.figures import OURS, PEER, RunFigures, ServerFigures
from bench.loads import Transfer, WrkResult
from bench.report import render
from bench.targets import target_rows


def wrk(rate: float) -> WrkResult:
    return WrkResult(requests=int(rate * 10), bytes=0, seconds=10.0, connect_errors=0, read_errors=0,
                     write_errors=0, timeouts=0, non_2xx=0, p50_ms=1.0, p99_ms=rate / 1000, command="wrk")


def run(ours_check: float, aiohttp_check: float, upload_seconds: float) -> RunFigures:
    figures = RunFigures(date="d", command="c", mode="quick", machine=[], versions=[], seconds=3, big_mib=64)
    ours = ServerFigures("ours", "ours", OURS, check=wrk(ours_check),
                         big_upload=Transfer(64 << 20, upload_seconds, 201), big_upload_rss_mib=30.0)
    figures.servers += [ours, ServerFigures("aiohttp", "aiohttp", PEER, check=wrk(aiohttp_check))]
    return figures


def test_rows_are_the_median_round_and_targets_the_median_ratio() -> None:
    rounds = [run(20_000, 10_000, 1.0), run(30_000, 10_000, 3.0), run(10_000, 2_000, 2.0)]
    combined = combine(rounds)
    ours = combined.server("ours")
    assert ours is not None and ours.check is not None and ours.big_upload is not None
    assert ours.check.ok_per_second == 20_000 and ours.check.p99_ms == 20.0  # the whole median round's row
    assert ours.big_upload.seconds == 2.0
    rows = {row[0]: row for row in target_rows(combined, "64 MiB")}
    # ratios per round: 2.0, 3.0, 5.0 -> the median 3.0 (not 20,000 / 10,000 from the median rows)
    assert rows["/check req/s vs aiohttp, access log off (--log-level warning)"][1] == "3.00x (2.00, 3.00, 5.00)"
    assert "median of 3 rounds" in render(combined)


def test_one_round_is_reported_as_it_is() -> None:
    single = run(20_000, 10_000, 1.0)
    assert combine([single]) is single
    rows = {row[0]: row for row in target_rows(single, "64 MiB")}
    assert rows["/check req/s vs aiohttp, access log off (--log-level warning)"][1:] == ["2.00x", ">= 2.00x", "yes"]
    assert rows["/check req/s vs copyparty"][3] == "not measured"
