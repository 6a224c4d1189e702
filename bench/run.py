"""The benchmark harness: ours and its peers, side by side, in one run.

Started by ``bash bench/run.sh`` (which installs wrk, nginx, curl and the
peers first); see BENCHMARKS.md. Each server runs alone, pinned to CPU 0, the
load generators on CPU 1. Everything it starts it stops by PID, and its work
directory (under bench/) is removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Sequence

from bench import machine
from bench.figures import RunFigures, ServerFigures
from bench.fixtures import make_fixtures
from bench.combine import combine
from bench.loads import LoadError, dd_fdatasync, sha256_rate
from bench.profiling import profile_load
from bench.report import render
from bench.servers import BENCH, LOAD_CPU, REPO, SERVER_CPU, Launcher, ServerSpec, our_specs, peer_specs
from bench.suite import BIG_TRIALS, Plan, SuiteRunner, check_load, median_transfer, small_upload_load
from bench.throttled_scale import run_throttled


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s loads, 64 MiB big file")
    parser.add_argument("--profile", action="store_true",
                        help="also profile ours with py-spy under the /check and 64 KiB upload loads")
    parser.add_argument("--only", default="", help="comma-separated server keys to run (default: all); "
                        "keys: original, uploadserver, aiohttp, starlette, nginx, copyparty, bare, aiohttp-2cpu, ours, "
                        "ours-nofsync, ours-info, ours-form, ours-tus, ours-maxdl, ours-2cpu, throttled")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the whole suite N times (rounds) and report the medians (issue 18 asks for 3)")
    parser.add_argument("--output", default=None,
                        help="Markdown file to write (default: BENCHMARKS.md for a full run of every server, "
                             "none for --quick or --only)")
    return parser.parse_args(argv)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def pinning() -> tuple[int | None, int | None, str | None]:
    """(server CPU, load CPU, a note if pinning is off)."""
    try:
        usable = os.sched_getaffinity(0)
    except AttributeError:
        usable = set()
    if {SERVER_CPU, LOAD_CPU} <= usable and shutil.which("taskset"):
        os.sched_setaffinity(0, {LOAD_CPU})  # the harness itself stays off the server's CPU
        return SERVER_CPU, LOAD_CPU, None
    return None, None, "CPU pinning off (needs CPUs 0 and 1 and taskset); servers and load share the CPUs"


class Harness:
    def __init__(self, plan: Plan, figures: RunFigures, workdir: Path, server_cpu: int | None,
                 load_cpu: int | None, service_python: str, only: set[str]) -> None:
        self.plan = plan
        self.figures = figures
        self.workdir = workdir
        self.load_cpu = load_cpu
        self.only = only
        self.fixtures = make_fixtures(workdir / "fixtures", plan.big_mib)
        os.sync()
        self.launcher = Launcher(workdir, self.fixtures, server_cpu, service_python)
        self.server_cpu = server_cpu
        self.service_python = service_python
        self.suite = SuiteRunner(plan, self.fixtures, server_cpu, load_cpu, log)

    def new_round(self, figures: RunFigures, number: int) -> None:
        """Start round ``number``: the servers' files of the round before are
        removed now (a full round writes tens of GiB; three would fill the
        disk), before this round's transfers, which create few files, and long
        before its small uploads, which would feel ext4's slow creations after
        many deletions (see ``serve``)."""
        self.figures = figures
        self.launcher.round = number
        for earlier in self.workdir.glob(f"r{number - 1}-srv-*"):
            shutil.rmtree(earlier, ignore_errors=True)

    def wanted(self, key: str) -> bool:
        return not self.only or key in self.only

    def baseline(self) -> None:
        log(f"dd bs=1M count={self.plan.big_mib} conv=fdatasync")
        try:
            self.figures.dd = median_transfer([dd_fdatasync(self.workdir / "dd.bin", self.plan.big_mib, self.load_cpu)
                                               for _ in range(BIG_TRIALS)])
        except LoadError as exc:
            self.figures.dd_error = str(exc)
        log("hashlib.sha256 rate on the server's CPU")
        try:
            self.figures.sha256_mb_s = sha256_rate(self.service_python, self.server_cpu)
        except LoadError as exc:
            self.figures.notes.append(str(exc))

    def serve(self, spec: ServerSpec, phase: str) -> None:
        """Run one phase of the suite (see ``Suite.run``) on a fresh instance
        of ``spec``; both phases fill the same figures."""
        figures = next((f for f in self.figures.servers if f.key == spec.key), None)
        if figures is None:
            figures = ServerFigures(spec.key, spec.label, spec.role)
            self.figures.servers.append(figures)
        if phase == "small" and not (spec.uploads and spec.small_uploads):
            return
        log(f"{spec.label}: starting ({phase})")
        try:
            deployment = self.launcher.start(spec, phase)
        except Exception as exc:  # one server that cannot start must not stop the others
            figures.errors["start"] = str(exc).splitlines()[0][:200]
            log(f"{spec.label}: failed to start: {exc}")
            return
        try:
            self.suite.run(deployment, figures, phase)
        finally:
            status = deployment.server.stop()
            log(f"{spec.label}: stopped (exit {status})")
            # The files stay until the whole run ends (under ``workdir``): ext4
            # makes file creation slow for a while after many deletions (its
            # inode allocator skips recently freed inodes), which would
            # penalise whichever server happened to run next.

    def throttled(self) -> None:
        plan = self.plan
        log(f"throttled scale: {plan.throttled_connections} connections at {plan.throttled_rate} B/s each")
        try:
            deployment = self.launcher.start_throttled(plan.throttled_rate)
        except Exception as exc:
            self.figures.throttled_error = str(exc).splitlines()[0][:200]
            return
        try:
            self.figures.throttled = run_throttled(deployment, plan.throttled_connections, plan.throttled_rate,
                                                   plan.throttled_warmup, plan.throttled_window, self.server_cpu,
                                                   self.load_cpu)
        except Exception as exc:
            self.figures.throttled_error = str(exc).splitlines()[0][:200]
            log(f"throttled scale FAILED: {exc}")
        finally:
            deployment.server.stop()

    def profiles(self, out_dir: Path) -> None:
        """py-spy under the /check load and the 64 KiB upload loads (default
        fsync and ``--fsync never``), each on a fresh instance of ours."""
        out_dir.mkdir(parents=True, exist_ok=True)
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        specs = {spec.key: spec for spec in our_specs()}
        default, never = specs["ours"], specs["ours-nofsync"]
        runs = [("check", default, "/check/<id>, 200 keep-alive connections"),
                ("upload-fsync", default, "64 KiB uploads, 32 connections, default --fsync always"),
                ("upload-nofsync", never, "64 KiB uploads, 32 connections, --fsync never")]
        for name, spec, title in runs:
            log(f"profiling ours: {title}")
            deployment = self.launcher.start(ServerSpec(f"{spec.key}-profile-{name}", spec.label, spec.role,
                                                        service_flags=spec.service_flags, fixtures=("check",)))
            try:
                load = (check_load(self.plan, deployment.check_path) if name == "check"
                        else small_upload_load(self.plan, deployment, self.fixtures))
                self.figures.profiles.append(
                    profile_load(deployment, title, load, self.load_cpu, py_spy, out_dir / f"{stamp}-{name}.txt"))
            except Exception as exc:
                self.figures.notes.append(f"profile '{title}' failed: {str(exc).splitlines()[0][:200]}")
                log(f"profile FAILED: {exc}")
            finally:
                deployment.server.stop()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    plan = Plan.quick() if args.quick else Plan.full()
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    output = args.output or (None if args.quick or only else str(REPO / "BENCHMARKS.md"))
    raise_fd_limit()
    server_cpu, load_cpu, pin_note = pinning()
    service_python = os.environ.get("BENCH_SERVICE_PYTHON") or shutil.which("python3") or sys.executable
    workdir = Path(tempfile.mkdtemp(prefix=".work-", dir=BENCH))
    command = "bash bench/run.sh" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(
        list(argv if argv is not None else sys.argv[1:])))
    started = time.monotonic()
    rounds: list[RunFigures] = []
    try:
        harness: Harness | None = None
        for number in range(1, max(1, args.repeat) + 1):
            figures = RunFigures(
                date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), command=command,
                mode="quick" if args.quick else "full", machine=machine.machine(workdir, service_python),
                versions=machine.versions(), seconds=plan.seconds, big_mib=plan.big_mib)
            if pin_note:
                figures.notes.append(pin_note)
            figures.notes.append("the machine is shared with other jobs; expect noise between runs")
            rounds.append(figures)
            if args.repeat > 1:
                log(f"== round {number} of {args.repeat}")
            if harness is None:
                harness = Harness(plan, figures, workdir, server_cpu, load_cpu, service_python, only)
            harness.new_round(figures, number)
            harness.baseline()
            for phase in ("transfers", "small"):
                for spec in peer_specs() + our_specs():
                    if harness.wanted(spec.key):
                        harness.serve(spec, phase)
            if harness.wanted("throttled"):
                harness.throttled()
            if args.profile and number == max(1, args.repeat):
                harness.profiles(BENCH / "results")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = combine(rounds)
    figures.notes.append(f"the run took {(time.monotonic() - started) / 60:.1f} min")
    text = render(figures)
    print(text)
    if output:
        Path(output).write_text(text)
        log(f"wrote {output}")
    failed = any(r.dd_error or r.throttled_error or any(s.errors for s in r.servers) for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
