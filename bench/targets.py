"""The targets of issue 18 as ratios of one run's figures, and their medians
over the rounds of ``--repeat``: each ratio is taken within one round (the
noise between rounds is larger than most gaps measured), then the median of
the rounds' ratios is reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bench.figures import PEER, RunFigures, ServerFigures

Getter = Callable[[ServerFigures], "float | None"]


@dataclass(frozen=True)
class Target:
    name: str
    goal: str  # as shown, e.g. ">= 1.50x"; "(reported)" has no verdict
    ok: Callable[[float], bool]
    value: Callable[[RunFigures], "float | None"]  # the ratio (or the figure) in one run
    unit: str = "x"  # "x" for a ratio, " MiB" for a figure


def _check(s: ServerFigures) -> float | None:
    return s.check.ok_per_second if s.check else None


def _mib(s: ServerFigures) -> float | None:
    r = s.mib_downloads
    return (r.requests - r.non_2xx) * (1 << 20) / r.seconds / 1e6 if r else None


def _down(s: ServerFigures) -> float | None:
    return s.big_download.mb_per_s if s.big_download else None


def _up(s: ServerFigures) -> float | None:
    return s.big_upload.mb_per_s if s.big_upload else None


def _small(s: ServerFigures) -> float | None:
    return s.small_uploads.ok_per_second if s.small_uploads else None


def ratio(key: str, base_key: str, get: Getter) -> Callable[[RunFigures], float | None]:
    def value(run: RunFigures) -> float | None:
        ours, base = run.server(key), run.server(base_key)
        a = get(ours) if ours else None
        b = get(base) if base else None
        return a / b if a is not None and b else None
    return value


def vs_best_peer(key: str, get: Getter) -> Callable[[RunFigures], float | None]:
    def value(run: RunFigures) -> float | None:
        ours = run.server(key)
        a = get(ours) if ours else None
        peers = [v for s in run.servers if s.role == PEER and (v := get(s)) is not None]
        return a / max(peers) if a is not None and peers and max(peers) else None
    return value


def one_core_limit(run: RunFigures) -> float | None:
    """Ours' big upload (one pinned core, default fsync) over 1/(1/recv +
    1/sha256): recv = aiohttp's big upload on one core (no hash, no fsync),
    sha256 = hashlib's rate on that core, both from this run."""
    ours, aio = run.server("ours"), run.server("aiohttp")
    mine, recv = (_up(ours) if ours else None), (_up(aio) if aio else None)
    if mine is None or not recv or not run.sha256_mb_s:
        return None
    return mine * (1 / recv + 1 / run.sha256_mb_s)


def peak_rss(run: RunFigures) -> float | None:
    ours = run.server("ours")
    values = [v for v in (ours.big_upload_rss_mib, ours.big_download_rss_mib) if v is not None] if ours else []
    return max(values) if values else None


def targets(big: str) -> list[Target]:
    def at_least(goal: float) -> Callable[[float], bool]:
        return lambda r: r >= goal

    rows = [
        Target("/check req/s vs aiohttp, access log on (ours --log-level info)", ">= 1.50x", at_least(1.5),
               ratio("ours-info", "aiohttp", _check)),
        Target("/check req/s vs aiohttp, access log off (--log-level warning)", ">= 2.00x", at_least(2.0),
               ratio("ours", "aiohttp", _check)),
        Target("/check req/s vs bare asyncio ceiling", ">= 0.30x", at_least(0.3), ratio("ours", "bare", _check)),
        Target("1 MiB downloads MB/s vs nginx", ">= 1.00x", at_least(1.0), ratio("ours", "nginx", _mib)),
        Target(f"{big} download vs best peer", ">= 1.00x", at_least(1.0), vs_best_peer("ours", _down)),
        Target(f"{big} upload with sha256 + fsync vs aiohttp (no hash, no fsync), two cores", ">= 0.90x",
               at_least(0.9), ratio("ours-2cpu", "aiohttp-2cpu", _up)),
        Target(f"{big} upload, one pinned core, vs 1/(1/recv + 1/sha256) of this run", ">= 0.90x", at_least(0.9),
               one_core_limit),
        Target("64 KiB uploads/s vs aiohttp, --fsync never", ">= 1.20x", at_least(1.2),
               ratio("ours-nofsync", "aiohttp", _small)),
        Target("64 KiB uploads/s vs aiohttp, default (fsync)", ">= 0.80x", at_least(0.8),
               ratio("ours", "aiohttp", _small)),
    ]
    for what, get in (("/check req/s", _check), ("1 MiB downloads MB/s", _mib), (f"{big} download", _down),
                      (f"{big} upload", _up), ("64 KiB uploads/s (default fsync)", _small)):
        rows.append(Target(f"{what} vs copyparty", ">= 1.00x", at_least(1.0), ratio("ours", "copyparty", get)))
    rows += [
        Target(f"peak RSS, {big} each way (filesystem)", "<= 64 MiB", lambda v: v <= 64, peak_rss, " MiB"),
        Target("1 MiB downloads under Max-Downloads vs without", "(reported)", lambda r: True,
               ratio("ours-maxdl", "ours", _mib)),
        Target("/check, access log on vs off", "(reported)", lambda r: True, ratio("ours-info", "ours", _check)),
        Target(f"{big} upload as a multipart form vs raw PUT", "(reported)", lambda r: True,
               ratio("ours-form", "ours", _up)),
        Target(f"{big} upload by tus (PATCH x 8 MiB) vs raw PUT", "(reported)", lambda r: True,
               ratio("ours-tus", "ours", _up)),
    ]
    return rows


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def target_rows(run: RunFigures, big: str) -> list[list[str]]:
    """[target, measured, goal, met] rows; with rounds, the median of the
    rounds' values and each round's value beside it."""
    rounds = run.rounds or [run]
    rows = []
    for target in targets(big):
        values = [v for r in rounds if (v := target.value(r)) is not None]
        if not values:
            rows.append([target.name, "-", target.goal, "not measured"])
            continue
        value = median(values)
        shown = f"{value:.2f}{target.unit}" if target.unit == "x" else f"{value:.1f}{target.unit}"
        if len(rounds) > 1:
            shown += " (" + ", ".join(f"{v:.2f}" for v in values) + ")"
        verdict = "-" if target.goal == "(reported)" else ("yes" if target.ok(value) else "**no**")
        rows.append([target.name, shown, target.goal, verdict])
    return rows
