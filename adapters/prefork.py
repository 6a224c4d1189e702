"""Pre-forked worker processes sharing one listening socket.

The parent binds the socket, forks ``workers`` children that each run their
own event loop on it (the kernel hands each new connection to whichever
worker accepts first, so a busy worker takes fewer), and supervises them: a
worker that dies unexpectedly is replaced; SIGTERM or SIGINT is forwarded to
every worker, and the parent exits once all of them have finished their
graceful shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from types import FrameType
from typing import Callable

log = logging.getLogger("uds.prefork")

RESPAWN_PAUSE = 1.0  # seconds between replacing crashed workers, against crash loops


def _fork(index: int, child: Callable[[int], int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = child(index)
    except BaseException:  # pragma: no cover - reported, and the parent replaces the worker
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_workers(workers: int, child: Callable[[int], int], on_exit: Callable[[int], object] | None = None) -> int:
    """Run ``child(index)`` in ``workers`` processes until a signal; returns
    0 when every worker exited 0 after SIGTERM/SIGINT, 1 otherwise.
    ``on_exit(pid)`` runs in this process after each worker has exited (and
    before it is replaced): the clean-up of what a crashed worker left; an
    exception from it is logged and the supervision goes on."""
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(running):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    running: dict[int, int] = {}
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            running[_fork(index, child)] = index
        log.info("started %d worker processes: %s", workers, " ".join(map(str, running)))
        failed = False
        while running:
            try:
                pid, status = os.wait()
            except ChildProcessError:  # pragma: no cover - nothing left to wait for
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait for us
                continue
            index = running.pop(pid, -1)
            code = os.waitstatus_to_exitcode(status)
            if on_exit is not None:
                try:
                    on_exit(pid)
                except Exception:
                    log.exception("clean-up after worker %d (pid %d) failed", index, pid)
            if stopping:
                failed = failed or code != 0
                continue
            log.error("worker %d (pid %d) exited with %d; starting a new one", index, pid, code)
            time.sleep(RESPAWN_PAUSE)
            if not stopping:
                running[_fork(index, child)] = index
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
