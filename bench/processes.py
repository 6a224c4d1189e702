"""Server processes under the harness's control: started pinned to one CPU,
waited for until they accept connections, measured through /proc (resident
memory of the whole process tree, CPU time), and stopped by PID. Every server
started here is stopped here, even when a load fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(cpu: int | str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run under ``taskset -c cpu`` (a CPU or a list such as "0,1";
    unchanged when pinning is off)."""
    return list(argv) if cpu is None else ["taskset", "-c", str(cpu), *argv]


def _read_status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx's workers), from /proc children lists."""
    found = [pid]
    for current in found:
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


class ServerProcess:
    """One running server. ``argv`` already carries its pinning; output goes
    to ``log`` (a file, so a chatty server never blocks on a full pipe)."""

    def __init__(self, name: str, argv: Sequence[str], port: int, log: Path, cwd: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self._proc = subprocess.Popen(self.argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env)
        self.pid = self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._proc.returncode} before listening:\n"
                                   + self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s:\n"
                           + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def rss_kib(self) -> int:
        return sum(_read_status_kib(pid, "VmRSS:") for pid in process_tree(self.pid))

    def reset_peak_rss(self) -> None:
        """Restart the kernel's high-water mark (VmHWM) from the current RSS
        (``echo 5 > /proc/PID/clear_refs``), so the next peak belongs to the
        next transfer, not to an earlier load. Best effort."""
        for pid in process_tree(self.pid):
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as refs:
                    refs.write("5")
            except OSError:
                pass

    def peak_rss_kib(self) -> int:
        return sum(_read_status_kib(pid, "VmHWM:") for pid in process_tree(self.pid))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process tree so far."""
        total = 0
        for pid in process_tree(self.pid):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
        return total / CLOCK_TICKS

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode


class PeakRss:
    """Peak resident memory of a server over a ``with`` block, in MiB: the
    larger of the kernel's high-water mark (reset on entry) and a 20 ms poll
    of the tree's current RSS (which catches forked children too)."""

    def __init__(self, server: ServerProcess, interval: float = 0.02) -> None:
        self._server = server
        self._interval = interval
        self._polled_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.mib = 0.0

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._polled_kib = max(self._polled_kib, self._server.rss_kib())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._server.reset_peak_rss()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.mib = max(self._polled_kib, self._server.peak_rss_kib()) / 1024
