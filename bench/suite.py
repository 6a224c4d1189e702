"""The loads one server goes through, in the same order for every server:
``/check`` (keep-alive, then the seed's own wrk command), 1 MiB downloads, the
big download, the big upload, 64 KiB uploads. Each load is checked once by
hand first (a misconfigured peer answering 404 fast must not win), and a load
that fails is recorded and the rest still run."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from bench.cpu_meter import CpuMeter, wait_for_quiet
from bench.figures import ServerFigures
from bench.fixtures import Fixtures, multipart_content_type
from bench.loads import Transfer, WrkLoad, WrkResult, curl_download, curl_upload, run_wrk, tus_upload
from bench.processes import PeakRss
from bench.servers import Deployment

T = TypeVar("T")

# Each big transfer is measured this many times and the median reported: on
# this VM the speed of writing 1 GiB into memory that was handed back to the
# host (free page reporting) swings several-fold from one moment to the next.
BIG_TRIALS = 3


def median_transfer(trials: list[Transfer]) -> Transfer:
    """The trial with the median duration (the upper middle of an even count)."""
    return sorted(trials, key=lambda t: t.seconds)[len(trials) // 2]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def remove_new_big_files(root: Path, before: set[Path], size: int) -> int:
    """Delete the files of at least ``size`` bytes created under ``root`` since
    ``before`` was taken (a big upload just measured), so that every trial
    starts from the same disk and page cache state. Returns how many."""
    removed = 0
    for path in _files(root) - before:
        try:
            if path.stat().st_size >= size:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


@dataclass(frozen=True)
class Plan:
    """How long and how big: the full run or ``--quick``."""

    seconds: int
    big_mib: int
    pause: float
    throttled_connections: int
    throttled_rate: int
    throttled_warmup: float
    throttled_window: float
    settle_limit: float

    @staticmethod
    def full() -> Plan:
        return Plan(seconds=30, big_mib=1024, pause=2.0, throttled_connections=1000, throttled_rate=10000,
                    throttled_warmup=5.0, throttled_window=30.0, settle_limit=20.0)

    @staticmethod
    def quick() -> Plan:
        return Plan(seconds=3, big_mib=64, pause=0.5, throttled_connections=1000, throttled_rate=10000,
                    throttled_warmup=2.0, throttled_window=4.0, settle_limit=3.0)


def check_load(plan: Plan, path: str) -> WrkLoad:
    return WrkLoad(path, threads=2, connections=200, seconds=plan.seconds, latency=True)


def seed_load(plan: Plan, path: str) -> WrkLoad:
    return WrkLoad(path, threads=8, connections=200, seconds=plan.seconds)


def mib_load(plan: Plan, path: str) -> WrkLoad:
    return WrkLoad(path, threads=2, connections=16, seconds=plan.seconds, latency=True)


def small_upload_load(plan: Plan, deployment: Deployment, fixtures: Fixtures) -> WrkLoad:
    spec = deployment.spec
    multipart = spec.multipart_field is not None
    return WrkLoad(spec.upload_path, threads=2, connections=32, seconds=plan.seconds, latency=True,
                   method=spec.upload_method, body_file=fixtures.small_multipart if multipart else fixtures.small_body,
                   content_type=multipart_content_type() if multipart else "application/octet-stream")


def _expect(url: str, *, method: str = "GET", body: bytes | None = None, content_type: str | None = None,
            length: int | None = None) -> None:
    """One request by hand; raises unless it answers 2xx (with ``length`` bytes)."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = len(answer.read())
            if length is not None and got != length:
                raise RuntimeError(f"{method} {url}: {got} bytes, expected {length}")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url}: HTTP {exc.code}") from None


class SuiteRunner:
    def __init__(self, plan: Plan, fixtures: Fixtures, server_cpu: int | None, load_cpu: int | None,
                 log: Callable[[str], None]) -> None:
        self._plan = plan
        self._fixtures = fixtures
        self._server_cpu = server_cpu
        self._cpu = load_cpu
        self._log = log

    def _load_cpu(self, deployment: Deployment) -> int | str | None:
        """Where the load generators run: the load CPU, or with the server on
        the CPUs of a spec that names its own (both cores)."""
        return deployment.spec.cpus if deployment.spec.cpus and self._cpu is not None else self._cpu

    def _attempt(self, figures: ServerFigures, deployment: Deployment, load: str, run: Callable[[], T]) -> T | None:
        if not deployment.server.alive():
            figures.errors[load] = "server not running"
            return None
        cpus = [c for c in (self._server_cpu, self._cpu) if c is not None]
        shared = deployment.spec.cpus is not None  # server and load on the same CPUs: no "other jobs" split
        busy = ""
        if cpus:
            waited, worst = wait_for_quiet(cpus, threshold=0.10, limit=self._plan.settle_limit)
            busy = f" (other jobs: {worst * 100:.0f}% of a CPU after waiting {waited:.0f} s)" if worst >= 0.10 else ""
        self._log(f"  {deployment.spec.key}: {load}{busy}")
        try:
            with CpuMeter(deployment.server, None if shared else self._server_cpu,
                          None if shared else self._cpu) as meter:
                result = run()
            figures.cpu[load] = meter.shares
        except Exception as exc:  # a failed load is a figure too: report it, go on with the next
            figures.errors[load] = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            self._log(f"  {deployment.spec.key}: {load} FAILED: {exc}")
            return None
        time.sleep(self._plan.pause)
        return result

    def _wrk(self, deployment: Deployment, load: WrkLoad) -> WrkResult:
        return run_wrk(deployment.server.base_url, load, self._load_cpu(deployment))

    def run(self, deployment: Deployment, figures: ServerFigures, phase: str = "all") -> None:
        """``phase`` "transfers": /check, downloads and the big upload;
        "small": the 64 KiB uploads; "all": both. The harness runs every
        server's transfers before any server's small uploads: tens of
        thousands of new files (kept until the end of the run, see
        ``Harness.serve``) slow the disk for every big upload that follows."""
        spec, server, plan, fixtures = deployment.spec, deployment.server, self._plan, self._fixtures
        base = server.base_url
        load_cpu = self._load_cpu(deployment)
        if phase == "small":
            if spec.uploads and spec.small_uploads:
                self._small_uploads(deployment, figures)
            return
        if spec.checks:
            def check() -> WrkResult:
                _expect(base + deployment.check_path)
                return self._wrk(deployment, check_load(plan, deployment.check_path))

            figures.check = self._attempt(figures, deployment, "check", check)
            figures.seed = self._attempt(figures, deployment, "seed",
                                         lambda: self._wrk(deployment, seed_load(plan, deployment.check_path)))
        if spec.downloads:
            def mib() -> WrkResult:
                _expect(base + deployment.mib_path, length=fixtures.served["mib"].stat().st_size)
                return self._wrk(deployment, mib_load(plan, deployment.mib_path))

            figures.mib_downloads = self._attempt(figures, deployment, "mib", mib)
        if spec.downloads and spec.big:
            with PeakRss(server) as peak:
                figures.big_download = self._attempt(
                    figures, deployment, "big download",
                    lambda: median_transfer([curl_download(base + deployment.big_path, fixtures.big.stat().st_size,
                                                           load_cpu) for _ in range(BIG_TRIALS)]))
            if figures.big_download is not None:
                figures.big_download_rss_mib = peak.mib
        if spec.uploads and spec.big:
            def big_upload() -> Transfer:
                trials = []
                for _ in range(BIG_TRIALS):
                    before = _files(deployment.root)
                    os.sync()  # every big upload starts with no other dirty data queued for the disk
                    if spec.upload_client == "tus":
                        trials.append(tus_upload(base, fixtures.big, load_cpu))
                    else:
                        trials.append(curl_upload(base + spec.big_upload_path, fixtures.big, load_cpu,
                                                  spec.multipart_field))
                    remove_new_big_files(deployment.root, before, fixtures.big.stat().st_size)
                return median_transfer(trials)

            with PeakRss(server) as peak:
                figures.big_upload = self._attempt(figures, deployment, "big upload", big_upload)
            if figures.big_upload is not None:
                figures.big_upload_rss_mib = peak.mib

        if spec.uploads and spec.small_uploads and phase == "all":
            self._small_uploads(deployment, figures)

    def _small_uploads(self, deployment: Deployment, figures: ServerFigures) -> None:
        spec, plan, fixtures = deployment.spec, self._plan, self._fixtures
        base = deployment.server.base_url

        def small() -> WrkResult:
            load = small_upload_load(plan, deployment, fixtures)
            assert load.body_file is not None
            body = load.body_file.read_bytes().replace(b"@@N@@", b"probe")
            _expect(base + spec.upload_path.replace("@@N@@", "probe"), method=spec.upload_method, body=body,
                    content_type=load.content_type)
            return self._wrk(deployment, load)

        os.sync()
        figures.small_uploads = self._attempt(figures, deployment, "64 KiB uploads", small)
