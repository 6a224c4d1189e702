"""py-spy profiles of ours under a load: ``py-spy record`` (raw collapsed
stacks, by function, all threads, idle included) attached to the server for
the length of one wrk load, both on the load CPU. Hotspots are given as a
share of the event-loop thread's samples, so idle time in the selector shows
how much of the core the loop left unused."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.figures import Hotspot, Profile
from bench.loads import WrkLoad, run_wrk
from bench.processes import pinned
from bench.servers import REPO, Deployment

OWN_CODE = ("(adapters/", "(domain/", "(ports/")


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: ``thread (TID): NAME;frame;...;leaf COUNT`` per line."""
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def hotspots(stacks: list[tuple[list[str], int]], per: int, top: int,
             only_own: bool = False) -> list[Hotspot]:
    """Self (leaf) and total (anywhere in the stack, once per sample) shares
    of ``per`` samples; sorted by self, or by total for ``only_own``."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for frames, count in stacks:
        body = frames[1:]  # frames[0] names the thread
        if body:
            own[body[-1]] += count
        for function in set(body):
            total[function] += count
    names = list(total)
    if only_own:
        names = [n for n in names if any(part in n for part in OWN_CODE)]
        names.sort(key=lambda n: -total[n])
    else:
        names = [n for n in names if own[n]]
        names.sort(key=lambda n: -own[n])
    return [Hotspot(n, 100 * own[n] / per, 100 * total[n] / per) for n in names[:top]]


def _shown(path: Path) -> str:
    """The path as the report shows it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _idle_worker(frames: list[str]) -> bool:
    """A pool thread waiting for work (its leaf is the pool's own loop)."""
    return frames[-1].startswith("_worker (concurrent/futures/thread.py")


def profile_load(deployment: Deployment, title: str, load: WrkLoad, cpu: int | None, py_spy: str,
                 raw_file: Path) -> Profile:
    server = deployment.server
    spy_argv = pinned(cpu, [py_spy, "record", "--pid", str(server.pid), "--rate", "100", "--duration",
                            str(load.seconds), "--format", "raw", "--function", "--threads", "--idle",
                            "--output", str(raw_file)])
    spy = subprocess.Popen(spy_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)  # py-spy attaches before the load starts
        result = run_wrk(server.base_url, load, cpu)
        output, _ = spy.communicate(timeout=load.seconds + 60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not raw_file.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {output.strip()[-300:]}")
    stacks = read_stacks(raw_file)
    loop = [s for s in stacks if s[0][0].endswith(": MainThread")]
    workers = [s for s in stacks if not s[0][0].endswith(": MainThread") and not _idle_worker(s[0])]
    loop_samples = sum(count for _, count in loop) or 1
    command = (f"py-spy record --rate 100 --function --threads --idle --format raw --pid <ours> during "
               f"{result.command.split(' -s ')[0].replace('taskset -c 1 ', '')} "
               f"({result.ok_per_second:,.0f} req/s under the profiler)")
    return Profile(
        title=title, command=command, samples=sum(count for _, count in loop),
        loop_hotspots=hotspots(loop, loop_samples, 15),
        own_hotspots=hotspots(loop, loop_samples, 12, only_own=True),
        worker_hotspots=hotspots(workers, loop_samples, 8),
        worker_samples=sum(count for _, count in workers), raw_file=_shown(raw_file),
    )
