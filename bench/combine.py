"""The rounds of ``bash bench/run.sh --repeat N`` as one set of figures: per
server and load, the round with the median figure (its latency, errors and CPU
shares come with it, so that a row stays one measurement). The targets of
issue 18 are medians of per-round ratios instead (``bench/targets.py``)."""

from __future__ import annotations

from typing import Any, Callable, TypeVar, cast

from bench.figures import RunFigures, ServerFigures
from bench.loads import Transfer, WrkResult

T = TypeVar("T")

WRK_LOADS = (("check", "check"), ("seed", "seed"), ("mib_downloads", "mib"), ("small_uploads", "64 KiB uploads"))


def _median_index(values: list[tuple[int, float]]) -> int:
    """The round holding the median value (the upper middle of an even count)."""
    return sorted(values, key=lambda item: item[1])[len(values) // 2][0]


def _pick(rounds: list[ServerFigures], get: Callable[[ServerFigures], T | None],
          key: Callable[[Any], float]) -> tuple[T | None, int | None]:
    found = [(i, v) for i, s in enumerate(rounds) if (v := get(s)) is not None]
    if not found:
        return None, None
    index = _median_index([(i, key(v)) for i, v in found])
    return dict(found)[index], index


def combine_server(rounds: list[ServerFigures]) -> ServerFigures:
    first = rounds[0]
    out = ServerFigures(first.key, first.label, first.role)
    for attr, load in WRK_LOADS:
        value, index = _pick(rounds, lambda s: cast("WrkResult | None", getattr(s, attr)),
                             lambda r: r.ok_per_second)
        if isinstance(value, WrkResult) and index is not None:
            setattr(out, attr, value)
            if load in rounds[index].cpu:
                out.cpu[load] = rounds[index].cpu[load]
    for attr, rss, load in (("big_download", "big_download_rss_mib", "big download"),
                            ("big_upload", "big_upload_rss_mib", "big upload")):
        transfer, index = _pick(rounds, lambda s: cast("Transfer | None", getattr(s, attr)), lambda t: -t.seconds)
        if isinstance(transfer, Transfer) and index is not None:
            setattr(out, attr, transfer)
            setattr(out, rss, getattr(rounds[index], rss))
            if load in rounds[index].cpu:
                out.cpu[load] = rounds[index].cpu[load]
    loads = {"check": out.check, "seed": out.seed, "mib": out.mib_downloads, "64 KiB uploads": out.small_uploads,
             "big download": out.big_download, "big upload": out.big_upload}
    for number, s in enumerate(rounds, 1):
        for load, error in s.errors.items():
            if loads.get(load) is None:
                out.errors.setdefault(load, f"round {number}: {error}")
    return out


def combine(rounds: list[RunFigures]) -> RunFigures:
    """One ``RunFigures`` of medians, holding the rounds (``rounds``)."""
    if len(rounds) == 1:
        return rounds[0]
    first = rounds[0]
    out = RunFigures(date=first.date, command=first.command, mode=first.mode, machine=first.machine,
                     versions=first.versions, seconds=first.seconds, big_mib=first.big_mib, rounds=rounds)
    keys: list[str] = []
    for run in rounds:
        keys += [s.key for s in run.servers if s.key not in keys]
    for key in keys:
        out.servers.append(combine_server([s for run in rounds if (s := run.server(key)) is not None]))
    dds = [(i, r.dd.seconds) for i, r in enumerate(rounds) if r.dd is not None]
    out.dd = rounds[_median_index(dds)].dd if dds else None
    out.dd_error = None if out.dd else next((r.dd_error for r in rounds if r.dd_error), None)
    throttled = [(i, r.throttled.aggregate_bytes_per_s) for i, r in enumerate(rounds) if r.throttled is not None]
    out.throttled = rounds[_median_index(throttled)].throttled if throttled else None
    out.throttled_error = None if out.throttled else next((r.throttled_error for r in rounds if r.throttled_error),
                                                          None)
    hashes = sorted(r.sha256_mb_s for r in rounds if r.sha256_mb_s)
    out.sha256_mb_s = hashes[len(hashes) // 2] if hashes else None
    out.profiles = [p for r in rounds for p in r.profiles]
    out.notes = [f"figures: the median of {len(rounds)} rounds (each row one round's measurement; the targets "
                 "of issue 18: the median of the rounds' ratios, each round's beside it)"]
    out.notes += [note for note in first.notes if not note.startswith("the run took")]
    return out
