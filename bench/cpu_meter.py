"""How much of the two CPUs a load really had. The machine is shared: another
job's process on the server's CPU slows the server, one on the load CPU slows
wrk. Over a load, this compares each CPU's busy time (/proc/stat) with what
the server, the harness and its load generators used (/proc/PID/stat,
getrusage), so the report can show the foreign share beside every figure, and
waits before a load until the machine has been quiet for a moment."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from types import TracebackType

from bench.processes import CLOCK_TICKS, ServerProcess


def busy_seconds() -> dict[int, float]:
    """CPU number -> busy time so far: user, nice, system and steal (irq and
    softirq left out: they are mostly the loopback traffic of the load itself)."""
    busy: dict[int, float] = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in fields[:8])
                busy[int(name[3:])] = (user + nice + system + steal) / CLOCK_TICKS
    return busy


def _own_seconds() -> float:
    """CPU time of the harness and of every load generator it has reaped."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(frozen=True)
class CpuShares:
    """Shares of one core over a load (1.0 = a whole core): the server's own
    use, and what other processes took on the server's and on the load CPU."""

    server: float
    foreign_server_cpu: float | None
    foreign_load_cpu: float | None


class CpuMeter:
    """``with CpuMeter(...) as meter: <load>`` then ``meter.shares``. Load
    generators must be reaped inside the block to be counted as ours."""

    def __init__(self, server: ServerProcess | None, server_cpu: int | None, load_cpu: int | None) -> None:
        self._server = server
        self._server_cpu = server_cpu
        self._load_cpu = load_cpu
        self.shares = CpuShares(0.0, None, None)

    def _sample(self) -> tuple[float, float, dict[int, float], float]:
        return (time.monotonic(), self._server.cpu_seconds() if self._server else 0.0, busy_seconds(),
                _own_seconds())

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        t1, server1, busy1, own1 = self._sample()
        t0, server0, busy0, own0 = self._start
        elapsed = max(t1 - t0, 1e-9)
        server = (server1 - server0) / elapsed

        def foreign(cpu: int | None, ours: float) -> float | None:
            if cpu is None or cpu not in busy1:
                return None
            return max(0.0, (busy1[cpu] - busy0[cpu]) / elapsed - ours)

        self.shares = CpuShares(server, foreign(self._server_cpu, server),
                                foreign(self._load_cpu, (own1 - own0) / elapsed))


def wait_for_quiet(cpus: list[int], threshold: float, limit: float) -> tuple[float, float]:
    """Wait (up to ``limit`` s) for one second in which each of ``cpus`` is
    busy less than ``threshold`` of the time (nothing of ours runs between
    loads, so what is busy is foreign). Returns (seconds waited, the busiest
    share in the last second)."""
    started = time.monotonic()
    deadline = started + limit
    while True:
        before = busy_seconds()
        own = _own_seconds()
        time.sleep(1.0)
        after = busy_seconds()
        mine = _own_seconds() - own
        worst = max((after[c] - before[c] for c in cpus if c in after), default=0.0) - mine
        if worst < threshold or time.monotonic() >= deadline:
            return time.monotonic() - started, max(worst, 0.0)
