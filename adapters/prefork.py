"""Pre-forked worker processes sharing one listening socket.

The parent binds the socket, forks ``workers`` children that each run their
own event loop on it (the kernel hands each new connection to whichever
worker accepts first, so a busy worker takes fewer), and supervises them: a
worker that dies unexpectedly is replaced; SIGTERM or SIGINT is forwarded to
every worker, and the parent exits once all of them have finished their
graceful shutdown.

Stop signals and fork: the parent blocks SIGTERM and SIGINT from before each
``fork()`` until the new pid is recorded, so a stop arriving meanwhile is
handled after that and reaches the new worker too; once stopping, it forks
no more. The child inherits the block, resets the handlers to the default
and only then unblocks: a stop sent to it before that ends it, instead of
running the parent's handler in it. Signal masks are per thread: the parent
must not run other threads.
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
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _fork(index: int, child: Callable[[int], int], mask: set[signal.Signals | int]) -> int:
    """Fork a worker, with the stop signals blocked; the child runs with the
    default handlers and the signal ``mask`` of before the block."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
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
    stopping = 0  # the stop signal received, 0 until then

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = signum
        for pid in list(running):
            _signal(pid, signum)

    def stop_signal() -> int:
        # Read through a call: the handler may change it between two reads.
        return stopping

    def spawn(index: int) -> None:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if stop_signal():
                return
            pid = _fork(index, child, mask)
            running[pid] = index
            if stop_signal():  # handled between the check and the record (a signal caught before the block)
                _signal(pid, stop_signal())
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    running: dict[int, int] = {}
    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        for index in range(workers):
            spawn(index)
        log.info("started %d worker processes: %s", len(running), " ".join(map(str, running)))
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
            spawn(index)
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
