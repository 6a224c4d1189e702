"""The supervisor's signal handling around fork: a stop signal that arrives
while a worker is being forked (or replaced) reaches every worker, and a
signal sent to a worker before it has reset its handlers never runs the
supervisor's handler in it.

``run_workers`` forks and installs signal handlers, so each case runs it in a
subprocess of its own, with ``os.fork`` wrapped to widen the windows a real
scheduler opens only now and then. Workers leave marker files: ``ran-<index>-
<pid>`` when they start, ``orphan-<index>-<pid>`` when no stop signal reached
them within 5 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import os, signal, sys, time
from pathlib import Path

import adapters.prefork as prefork

marks, mode, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
prefork.RESPAWN_PAUSE = 0.05
real_fork = os.fork
forks = 0


def fork():
    global forks
    forks += 1
    pid = real_fork()
    if pid == 0 and mode == "signal-to-new-worker" and forks == 2:
        (marks / f"injected-{os.getpid()}").touch()
        os.kill(os.getpid(), signal.SIGTERM)  # before the worker has reset its handlers
    if pid and mode in ("stop-while-forking", "stop-while-replacing"):
        time.sleep(0.3)  # the supervisor is descheduled between fork() and recording the pid
    return pid


os.fork = fork


def child(index):
    if mode == "stop-while-replacing" and not (marks / "crashed").exists():
        (marks / "crashed").touch()
        return 1  # crash at once: the supervisor replaces this worker
    (marks / f"ran-{index}-{os.getpid()}").touch()
    if mode != "signal-to-new-worker":
        os.kill(os.getppid(), signal.SIGTERM)  # a stop arrives while the supervisor forks
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.05)  # the default action of SIGTERM ends this
    (marks / f"orphan-{index}-{os.getpid()}").touch()
    return 3


sys.exit(prefork.run_workers(workers, child))
'''


def supervise(tmp_path: Path, mode: str, workers: int) -> subprocess.Popen[bytes]:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "supervisor.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(marks), mode, str(workers)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"the supervisor did not return within {timeout} s")
    return output.decode(errors="replace")


def marks(tmp_path: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in (tmp_path / "marks").glob(prefix + "-*"))


def test_a_stop_during_start_up_reaches_every_worker(tmp_path: Path) -> None:
    # The first worker stops the supervisor at once, while the supervisor is
    # still between fork() and recording that worker's pid.
    output = finish(supervise(tmp_path, "stop-while-forking", 3))
    assert marks(tmp_path, "ran"), output
    assert marks(tmp_path, "orphan") == [], output


def test_a_stop_while_a_worker_is_replaced_reaches_the_new_worker(tmp_path: Path) -> None:
    output = finish(supervise(tmp_path, "stop-while-replacing", 1))
    assert "exited with 1; starting a new one" in output
    assert len(marks(tmp_path, "ran")) == 1, output  # the replacement ran, and stopped the supervisor
    assert marks(tmp_path, "orphan") == [], output


def test_a_signal_to_a_new_worker_never_runs_the_supervisors_handler(tmp_path: Path) -> None:
    # Run in the worker, the supervisor's handler would forward the signal to
    # the worker's siblings and let the worker go on as if never signalled.
    proc = supervise(tmp_path, "signal-to-new-worker", 2)
    try:
        deadline = time.monotonic() + 10
        injected: list[str] = []
        while time.monotonic() < deadline and not (injected and marks(tmp_path, "ran-1")):
            injected = [name.split("-")[1] for name in marks(tmp_path, "injected")]
            time.sleep(0.02)
        assert injected, "the second worker was never forked"
        ran = marks(tmp_path, "ran")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        output = finish(proc)
    assert not [name for name in ran if name.endswith("-" + injected[0])], (ran, output)  # it died at once
    assert len(marks(tmp_path, "ran-0")) == 1, (ran, output)  # its sibling was never signalled
    assert marks(tmp_path, "orphan") == [], output
