"""Renders a run as Markdown: printed to stdout and written to BENCHMARKS.md.

Every figure is shown with its ratio to the best *peer* in the same run (the
ceiling and our own rows never count as the best peer). Higher is better for
rates; for latency and memory the best peer is the lowest and a ratio above
1 is worse. The targets table computes exactly the ratios issue 6 names."""

from __future__ import annotations

from typing import Callable, Iterable

from bench.cpu_meter import CpuShares
from bench.figures import OURS, PEER, Profile, RunFigures, ServerFigures
from bench.loads import WrkResult
from bench.targets import target_rows

Getter = Callable[[ServerFigures], float | None]

HEADER = """# Benchmarks

The service and its peers, side by side in one run, on the same files and loads: each server alone, pinned to
CPU 0 (`taskset -c 0`), the load generators (wrk, curl, the throttled-download clients) on CPU 1. The machine is
shared, so absolute numbers drift between runs: only the ratios within one run mean anything.

Run it (on a fresh machine it installs wrk, nginx-full and curl with apt-get, and the Python peers pinned in
`bench/requirements.txt` into `bench/.venv`):

```sh
bash bench/run.sh                # full run: 30 s loads, 1 GiB transfers; rewrites BENCHMARKS.md (about 25 min)
bash bench/run.sh --quick        # smoke test: 3 s loads, 64 MiB "big" file; prints the table only
bash bench/run.sh --profile      # full run plus py-spy profiles of the service (/check and 64 KiB uploads)
bash bench/run.sh --repeat 3     # three full runs (rounds); every figure the median of the three (about 75 min)
bash bench/run.sh --quick --only ours,aiohttp   # some servers only (keys: bash bench/run.sh --help)
```
"""

METHOD = """## How each figure is taken

- **/check**: `wrk -t2 -c200 -d30s --timeout 2s --latency` on `/check/<id>` of a small file (200 keep-alive
  connections); req/s counts 2xx answers only. **seed command**: the issue's own `wrk -t8 -c200 -d30s --timeout 2s`.
  Every wrk load adds `-s bench/wrk_report.lua`, which only prints the totals as JSON (and builds upload requests).
- **1 MiB downloads**: wrk, 16 connections, 30 s; MB/s = 2xx answers x 1 MiB / duration (MB = 10^6 bytes).
- **big download / upload**: `curl` transfers of the big file (`-o /dev/null`; uploads `-T file`, streamed,
  PUT, with `Expect:` off for all; uploadserver gets a multipart `-F`), three of each in a row, the median
  reported. Peak RSS is the server's (whole process tree: nginx master + worker) over the three: the kernel's
  high-water mark, reset just before (`/proc/PID/clear_refs`), or a 20 ms poll of VmRSS, whichever is larger.
  `sync` runs before each upload, and the uploaded file is deleted after it, so every trial starts alike.
- **dd**: `dd if=/dev/zero bs=1M count=1024 conv=fdatasync` in the same work directory, median of three: the
  durable-write baseline for ours with the default `--fsync always`. dd fills the page cache far faster than the
  disk drains it and then flushes nearly all of it at the end; an upload arriving at network speed lets writeback
  overlap the transfer, so a durable upload can beat dd's figure.
- **ours' other paths** (rows "ours, ..."): `ours --log-level info` is the default access log on (one line per
  request, to a file); "multipart form POST" sends the same bytes as a `multipart/form-data` form to `POST /upload/`
  (`curl -F`; 64 KiB uploads: the form wrk sends to uploadserver); "tus upload" creates a tus upload and sends the
  big file in 8 MiB `PATCH`es on one keep-alive connection (`bench/tus_upload.py`, http.client, from the first byte
  to the last answer); "downloads under Max-Downloads" serves files uploaded with `Max-Downloads: 999999999`
  (every complete download takes and settles a slot in the ledger).
- **two cores** (rows "..., two cores"): the big upload with the server and curl both allowed CPUs 0 and 1
  (`taskset -c 0,1` for both), ours (default: sha256 and fsync) against aiohttp (no hash, no fsync). The one-core
  limit of an upload that hashes is 1/(1/recv + 1/sha256): recv = aiohttp's one-core big upload, sha256 =
  `hashlib.sha256` over 1 MiB blocks on CPU 0, in the service's Python (best of three passes of 256 MiB).
- **--repeat N**: the whole suite N times in one work directory; each table row is the round with the median
  figure (with its latency, errors and CPU), and each issue 18 target the median of the rounds' ratios (every
  round's ratio beside it).
- **64 KiB uploads**: wrk, 32 connections, 30 s, each request a new file (unique name per request); uploads/s
  counts 2xx answers. This load runs in a second pass, after every server's other loads, on a fresh instance: the
  tens of thousands of files it leaves (kept until the run ends; ext4 makes file creation slow for a while after
  mass deletions) would otherwise slow the disk for every big upload measured after them.
- **throttled scale**: ours with `--download-rate 10000`; bench/throttled_clients.py opens 1,000 connections each
  downloading a 1 MiB file, waits 5 s (the token buckets' initial burst), then watches 30 s. The server sends
  paced slices (16 KiB every 1.6 s), so each connection's rate is taken from the first to the last slice that
  arrived in the window (bytes after the first slice / time between them) and the aggregate is their sum; the plain
  count of bytes in the window (off by up to a slice per connection) is shown beside it. Server CPU = (utime +
  stime) over that window / window.
- **server CPU**: the server's utime + stime over the load / its duration (100% = one core). **req per server
  CPU-second** = req/s / server CPU: for a CPU-bound server, what one whole core would serve; the figure least
  moved by other jobs. **other jobs on CPU 0 / 1**: busy time of each CPU (/proc/stat: user, nice, system, steal)
  not used by the server (CPU 0) or by the harness and its load generators (CPU 1), per second. Before each load
  the harness waits (up to 20 s) for a second in which both CPUs are under 10% busy.

Peers (bench/peers/): **original** replicates the first implementation (stdlib ThreadingHTTPServer, HTTP/1.0, an
`os.listdir` scan per check and download, whole bodies read into memory, stdlib request logging to stderr);
**aiohttp** (`FileResponse`, streaming upload handler without fsync, `json_response`), **uvicorn+starlette**
(`FileResponse`, `request.stream()` upload without fsync; uvicorn with httptools on the stdlib asyncio loop),
**nginx** (one worker, `sendfile on`, WebDAV `PUT` uploads, `/check` = a stat (`if -f`) and a static JSON,
`keepalive_requests 1000000`), **copyparty** (one volume `-v DIR::rw`, `-j 1`, `-q` (no access log), `--http-only`,
no zeroconf, database or indexing (its defaults); downloads by `GET /<name>`, uploads by `PUT`, which it hashes
(sha512); it has no metadata-only check, so its "/check" is a `GET` of the small file), **uploadserver** (uploads
only by multipart POST; serves downloads as static files; its default request log on). The **bare asyncio Protocol**
answers every request with a canned response without parsing: a ceiling for any pure-asyncio server, not a peer.
Peers' checks stat the file; ours reads the file's metadata record. Ours hashes every upload (SHA-256); the peers
but copyparty do not. Access logs: off for ours (`--log-level warning`, but the row "access log on"), aiohttp,
uvicorn, nginx and copyparty.
"""


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def times(value: float | None, best: float | None) -> str:
    if value is None or not best:
        return "-"
    return f"{value / best:.2f}x"


def cpu(shares: CpuShares | None) -> str:
    return "-" if shares is None else f"{shares.server * 100:.0f}%"


def foreign(shares: CpuShares | None) -> str:
    """What other jobs took on the server's CPU / the load CPU during the load."""
    if shares is None or shares.foreign_server_cpu is None or shares.foreign_load_cpu is None:
        return "-"
    return f"{shares.foreign_server_cpu * 100:.0f}% / {shares.foreign_load_cpu * 100:.0f}%"


def per_cpu_second(rate: float, shares: CpuShares | None) -> float | None:
    return rate / shares.server if shares is not None and shares.server > 0.05 else None


def check_per_cpu_second(server: ServerFigures) -> float | None:
    """/check answers per second of the server's CPU time: the figure least
    moved by other jobs on a shared machine (for a server that is CPU-bound)."""
    return per_cpu_second(server.check.ok_per_second, server.cpu.get("check")) if server.check else None


def best_peer(servers: Iterable[ServerFigures], get: Getter, lower_is_better: bool = False) -> float | None:
    values = [v for s in servers if s.role == PEER and (v := get(s)) is not None]
    if not values:
        return None
    return min(values) if lower_is_better else max(values)


def label(server: ServerFigures) -> str:
    return f"**{server.label}**" if server.role == OURS else server.label


def table(head: list[str], rows: list[list[str]]) -> str:
    align = "|".join("---" if i == 0 else "---:" for i in range(len(head)))
    lines = ["| " + " | ".join(head) + " |", f"|{align}|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def wrk_getter(pick: Callable[[ServerFigures], WrkResult | None], value: Callable[[WrkResult], float]) -> Getter:
    def get(server: ServerFigures) -> float | None:
        result = pick(server)
        return None if result is None else value(result)
    return get


class Renderer:
    def __init__(self, run: RunFigures) -> None:
        self.run = run
        self.big = "1 GiB" if run.big_mib == 1024 else f"{run.big_mib} MiB"

    def _failed(self, server: ServerFigures, load: str, columns: int) -> list[str]:
        return [label(server), f"failed: {server.errors[load]}"] + ["-"] * (columns - 2)

    def check_table(self) -> str:
        rate = wrk_getter(lambda s: s.check, lambda r: r.ok_per_second)
        p99 = wrk_getter(lambda s: s.check, lambda r: r.p99_ms)
        best_rate, best_p99 = best_peer(self.run.servers, rate), best_peer(self.run.servers, p99, True)
        best_efficiency = best_peer(self.run.servers, check_per_cpu_second)
        rows = []
        for s in self.run.servers:
            if s.check is not None:
                r, shares = s.check, s.cpu.get("check")
                rows.append([label(s), number(r.ok_per_second), times(r.ok_per_second, best_rate), number(r.p50_ms, 2),
                             number(r.p99_ms, 2), times(r.p99_ms, best_p99), r.socket_error_text(),
                             number(r.non_2xx), cpu(shares), number(check_per_cpu_second(s)),
                             times(check_per_cpu_second(s), best_efficiency), foreign(shares)])
            elif "check" in s.errors:
                rows.append(self._failed(s, "check", 12))
        return (f"## /check/<id>: 200 keep-alive connections, {self.run.seconds} s\n\n"
                + table(["server", "req/s", "x best peer", "p50 ms", "p99 ms", "p99 x best peer (lower is better)",
                         "socket errors", "non-2xx", "server CPU", "req per server CPU-second", "x best peer",
                         "other jobs on CPU 0 / 1"], rows))

    def _wrk_table(self, title: str, pick: Callable[[ServerFigures], WrkResult | None], load: str,
                   rate_head: str, value: Callable[[WrkResult], float],
                   errors_head: str = "socket errors") -> str:
        """One row per server that ran ``load``: its rate (``value``) and ratio
        to the best peer's, latency, errors, the server's CPU."""
        best = best_peer(self.run.servers, wrk_getter(pick, value))
        rows = []
        for s in self.run.servers:
            r = pick(s)
            if r is not None:
                rows.append([label(s), number(value(r)), times(value(r), best), number(r.p50_ms, 2),
                             number(r.p99_ms, 2), r.socket_error_text(), number(r.non_2xx), cpu(s.cpu.get(load)),
                             foreign(s.cpu.get(load))])
            elif load in s.errors:
                rows.append(self._failed(s, load, 9))
        head = ["server", rate_head, "x best peer", "p50 ms", "p99 ms", errors_head, "non-2xx", "server CPU",
                "other jobs on CPU 0 / 1"]
        return f"## {title}\n\n" + table(head, rows)

    def seed_table(self) -> str:
        return self._wrk_table(f"/check/<id>, the seed's command: `wrk -t8 -c200 -d{self.run.seconds}s --timeout 2s`",
                               lambda s: s.seed, "seed", "req/s", lambda r: r.ok_per_second,
                               "socket errors (connect, read, write, timeout)")

    def mib_table(self) -> str:
        return self._wrk_table(f"1 MiB downloads: 16 connections, {self.run.seconds} s", lambda s: s.mib_downloads,
                               "mib", "MB/s", lambda r: (r.requests - r.non_2xx) * (1 << 20) / r.seconds / 1e6)

    def small_table(self) -> str:
        return self._wrk_table(f"64 KiB uploads: 32 connections, {self.run.seconds} s, a new file each",
                               lambda s: s.small_uploads, "64 KiB uploads", "uploads/s", lambda r: r.ok_per_second)

    def big_table(self) -> str:
        servers = self.run.servers

        def down(s: ServerFigures) -> float | None:
            return s.big_download.mb_per_s if s.big_download else None

        def up(s: ServerFigures) -> float | None:
            return s.big_upload.mb_per_s if s.big_upload else None

        best_down, best_up = best_peer(servers, down), best_peer(servers, up)
        best_down_rss = best_peer(servers, lambda s: s.big_download_rss_mib, True)
        best_up_rss = best_peer(servers, lambda s: s.big_upload_rss_mib, True)
        rows = []
        for s in servers:
            if s.big_download is None and s.big_upload is None and not {"big download", "big upload"} & set(s.errors):
                continue
            cells = [label(s)]
            cells += ([number(down(s)), times(down(s), best_down), number(s.big_download_rss_mib, 1),
                       times(s.big_download_rss_mib, best_down_rss)] if s.big_download else
                      [self._why(s, "big download"), "-", "-", "-"])
            cells += ([number(up(s)), times(up(s), best_up), number(s.big_upload_rss_mib, 1),
                       times(s.big_upload_rss_mib, best_up_rss)] if s.big_upload else
                      [self._why(s, "big upload"), "-", "-", "-"])
            cells.append(f"{foreign(s.cpu.get('big download'))}; {foreign(s.cpu.get('big upload'))}")
            rows.append(cells)
        if self.run.dd is not None:
            rows.append([f"dd bs=1M count={self.run.big_mib} conv=fdatasync (disk baseline)", "-", "-", "-", "-",
                         number(self.run.dd.mb_per_s), times(self.run.dd.mb_per_s, best_up), "-", "-", "-"])
        elif self.run.dd_error:
            rows.append(["dd (disk baseline)", "-", "-", "-", "-", f"failed: {self.run.dd_error}", "-", "-", "-", "-"])
        return (f"## {self.big} download and upload with curl, one transfer each\n\n"
                + table(["server", "download MB/s", "x best peer", "peak RSS MiB", "RSS x best peer",
                         "upload MB/s", "x best peer", "peak RSS MiB", "RSS x best peer",
                         "other jobs on CPU 0 / 1 (download; upload)"], rows))

    @staticmethod
    def _why(server: ServerFigures, load: str) -> str:
        return f"failed: {server.errors[load]}" if load in server.errors else "-"

    def throttled_table(self) -> str:
        t = self.run.throttled
        title = "## Throttled scale: ours with `--download-rate 10000`, 1,000 concurrent downloads\n\n"
        if t is None:
            return title + f"failed: {self.run.throttled_error}" if self.run.throttled_error else ""
        head = ["connections (connected / 200 OK / refused / ended early)", "per-connection limit B/s",
                f"aggregate MB/s over {t.window_seconds:.0f} s", "x target", "plain count in window, MB/s",
                "server CPU (one core = 100%)", "peak RSS MiB", "per-connection B/s p1 / p50 / p99",
                "other jobs on CPU 0 / 1"]
        row = [f"{t.connections:,} ({t.connected:,} / {t.ok:,} / {t.connect_failures:,} / {t.ended_early:,})",
               number(t.rate_per_connection), number(t.aggregate_bytes_per_s / 1e6, 3)
               + (f" ({t.unmeasured} connections unmeasured)" if t.unmeasured else ""),
               f"{t.aggregate_bytes_per_s / t.target_bytes_per_s:.3f}x", number(t.window_count_bytes_per_s / 1e6, 3),
               f"{t.server_cpu_fraction * 100:.1f}%", number(t.peak_rss_mib, 1),
               f"{t.per_connection_p1:,.0f} / {t.per_connection_p50:,.0f} / {t.per_connection_p99:,.0f}",
               foreign(t.cpu)]
        return title + table(head, [row])

    def targets_table(self) -> str:
        run = self.run
        ours, never, aio, nginx = run.server("ours"), run.server("ours-nofsync"), run.server("aiohttp"), \
            run.server("nginx")
        rows: list[list[str]] = []

        def add(name: str, value: float | None, base: float | None, goal: str, ok: Callable[[float], bool],
                shown: str | None = None) -> None:
            if value is None or not base:
                rows.append([name, "-", goal, "not measured"])
                return
            ratio = value / base
            verdict = "-" if goal == "(reported)" else ("yes" if ok(ratio) else "**no**")
            rows.append([name, shown or f"{ratio:.2f}x", goal, verdict])

        def get(server: ServerFigures | None, pick: Getter) -> float | None:
            return None if server is None else pick(server)

        def rate(s: ServerFigures) -> float | None:
            return s.check.ok_per_second if s.check else None

        def p99(s: ServerFigures) -> float | None:
            return s.check.p99_ms if s.check else None

        def mib(s: ServerFigures) -> float | None:
            return (s.mib_downloads.requests - s.mib_downloads.non_2xx) / s.mib_downloads.seconds \
                if s.mib_downloads else None

        def down(s: ServerFigures) -> float | None:
            return s.big_download.mb_per_s if s.big_download else None

        def up(s: ServerFigures) -> float | None:
            return s.big_upload.mb_per_s if s.big_upload else None

        def small(s: ServerFigures) -> float | None:
            return s.small_uploads.ok_per_second if s.small_uploads else None

        add("/check keep-alive req/s vs aiohttp", get(ours, rate), get(aio, rate), ">= 1.25x", lambda r: r >= 1.25)
        add("/check req per server CPU-second vs aiohttp (the same, less moved by other jobs)",
            get(ours, check_per_cpu_second), get(aio, check_per_cpu_second), ">= 1.25x", lambda r: r >= 1.25)
        add("/check p99 latency vs aiohttp", get(ours, p99), get(aio, p99), "<= 1.00x", lambda r: r <= 1.0)
        seed_errors = ours.seed.socket_errors if ours and ours.seed else None
        original = run.server("original")
        original_errors = original.seed.socket_errors if original and original.seed else None
        rows.append(["socket errors under the seed's wrk command",
                     f"{seed_errors if seed_errors is not None else '-'} (original: "
                     f"{original_errors if original_errors is not None else '-'})", "0",
                     "-" if seed_errors is None else ("yes" if seed_errors == 0 else "**no**")])
        add("1 MiB downloads MB/s vs nginx", get(ours, mib), get(nginx, mib), ">= 1.00x", lambda r: r >= 1.0)
        add(f"{self.big} download vs best peer", get(ours, down), best_peer(run.servers, down), ">= 0.90x",
            lambda r: r >= 0.9)
        add(f"{self.big} upload, --fsync never, vs nginx PUT", get(never, up), get(nginx, up), ">= 0.90x",
            lambda r: r >= 0.9)
        add(f"{self.big} upload, default (fsync), vs dd conv=fdatasync", get(ours, up),
            run.dd.mb_per_s if run.dd else None, ">= 0.80x", lambda r: r >= 0.8)
        add("64 KiB uploads/s, --fsync never, vs aiohttp (no fsync)", get(never, small), get(aio, small),
            ">= 1.00x", lambda r: r >= 1.0)
        default_small = get(ours, small)
        add("64 KiB uploads/s, default (fsync), vs aiohttp (no fsync)", default_small, get(aio, small),
            "(reported)", lambda r: True,
            None if default_small is None or not get(aio, small) else
            f"{default_small / (get(aio, small) or 1):.2f}x ({default_small:,.0f}/s)")
        for name, server, pick in ((f"peak RSS, {self.big} upload (default)", ours, "up"),
                                   (f"peak RSS, {self.big} upload (--fsync never)", never, "up"),
                                   (f"peak RSS, {self.big} download", ours, "down")):
            value = None if server is None else (server.big_upload_rss_mib if pick == "up"
                                                 else server.big_download_rss_mib)
            rows.append([name, "-" if value is None else f"{value:.1f} MiB", "<= 64 MiB",
                         "-" if value is None else ("yes" if value <= 64 else "**no**")])
        t = run.throttled
        if t is None:
            rows.append(["throttled scale: aggregate vs 10 MB/s", "-", "within 5%", "not measured"])
        else:
            ratio = t.aggregate_bytes_per_s / t.target_bytes_per_s
            rows.append(["throttled scale: aggregate vs 1,000 x 10000 B/s", f"{ratio:.3f}x "
                         f"({t.aggregate_bytes_per_s / 1e6:.3f} MB/s)", "0.95x - 1.05x",
                         "yes" if 0.95 <= ratio <= 1.05 and t.ok == t.connections else "**no**"])
            rows.append(["throttled scale: server CPU", f"{t.server_cpu_fraction * 100:.1f}% of one core",
                         "< 100%", "yes" if t.server_cpu_fraction < 1.0 else "**no**"])
        return "## Targets of issue 6 (ratios from this run)\n\n" + table(["target", "measured", "goal", "met"], rows)

    def targets18_table(self) -> str:
        how = (f"medians of {len(self.run.rounds)} rounds; each round's ratio in parentheses" if self.run.rounds
               else "ratios from this run; `--repeat 3` gives the median of three")
        sha = f"; hashlib.sha256 on CPU 0: {self.run.sha256_mb_s:,.0f} MB/s" if self.run.sha256_mb_s else ""
        return (f"## Targets of issue 18 ({how}{sha})\n\n"
                + table(["target", "measured", "goal", "met"], target_rows(self.run, self.big)))

    def profiles(self) -> str:
        if not self.run.profiles:
            return ""
        parts = ["## Profiles of ours (py-spy, taken after the measured loads, in separate runs of the same loads)"]
        for profile in self.run.profiles:
            parts.append(self._profile(profile))
        return "\n\n".join(parts)

    @staticmethod
    def _profile(profile: Profile) -> str:
        text = (f"### {profile.title}\n\n`{profile.command}`; {profile.samples:,} samples of the event-loop thread "
                f"(raw stacks: `{profile.raw_file}`)\n\n")
        text += table(["function (event-loop thread)", "self %", "total %"],
                      [[f"`{h.function}`", f"{h.self_percent:.1f}", f"{h.total_percent:.1f}"]
                       for h in profile.loop_hotspots])
        if profile.own_hotspots:
            text += "\n\nThe service's own functions on the event-loop thread, by total (inclusive) time:\n\n"
            text += table(["function (ours)", "self %", "total %"],
                          [[f"`{h.function}`", f"{h.self_percent:.1f}", f"{h.total_percent:.1f}"]
                           for h in profile.own_hotspots])
        if profile.worker_hotspots:
            text += (f"\n\nThread-pool threads: {profile.worker_samples:,} busy samples (waiting for work left out; "
                     "as % of the loop thread's samples, i.e. of wall time):\n\n")
            text += table(["function (thread-pool threads)", "self %", "total %"],
                          [[f"`{h.function}`", f"{h.self_percent:.1f}", f"{h.total_percent:.1f}"]
                           for h in profile.worker_hotspots])
        return text

    def render(self) -> str:
        run = self.run
        info = [f"- Date: {run.date}", f"- Mode: {run.mode} ({run.seconds} s per load, big file {self.big})",
                f"- Command: `{run.command}`"]
        info += [f"- {name}: {value}" for name, value in run.machine]
        info.append("- Versions: " + ", ".join(f"{name} {version}" for name, version in run.versions))
        info.append(f"- Other jobs on the machine during the loads: {self.noise()}")
        info += [f"- Note: {note}" for note in run.notes]
        sections = [HEADER, "## This run\n\n" + "\n".join(info), self.targets18_table(), self.targets_table(),
                    self.check_table(),
                    self.seed_table(), self.mib_table(), self.big_table(), self.small_table(),
                    self.throttled_table(), self.profiles(), METHOD, self.errors()]
        return "\n\n".join(s.strip() for s in sections if s.strip()) + "\n"

    def noise(self) -> str:
        shares = [c for s in self.run.servers for c in s.cpu.values()]
        if self.run.throttled:
            shares.append(self.run.throttled.cpu)

        def spread(values: list[float]) -> str:
            if not values:
                return "not measured"
            ordered = sorted(values)
            return f"median {ordered[len(ordered) // 2] * 100:.0f}%, max {ordered[-1] * 100:.0f}%"

        server = [c.foreign_server_cpu for c in shares if c.foreign_server_cpu is not None]
        load = [c.foreign_load_cpu for c in shares if c.foreign_load_cpu is not None]
        return (f"on the server's CPU {spread(server)} of a core; on the load CPU {spread(load)} "
                "(per load; the less, the better controlled the run)")

    def errors(self) -> str:
        lines = [f"- {s.label}, {load}: {error}" for s in self.run.servers for load, error in s.errors.items()]
        return "## Failed loads\n\n" + "\n".join(lines) if lines else ""


def render(run: RunFigures) -> str:
    return Renderer(run).render()
