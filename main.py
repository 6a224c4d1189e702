"""upload-download-service: the entry point.

Parses the configuration (``config.py``), prepares the storage directory
and the ledger in it, binds the listening socket, builds the service with
``bootstrap.build_app`` and runs it until SIGTERM or SIGINT, in one process
or in ``--workers`` pre-forked ones. The janitor (``bootstrap.build_janitor``)
runs in the single process, or in the first worker only (a replaced first
worker runs it again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Sequence

from adapters.clock import AsyncioClock
from adapters.adoption import adopt_unrecorded_blobs
from adapters.hashing import ThreadedHashing
from adapters.http.access_log import LogFormatter
from adapters.ids import RandomIds
from adapters.ledger.sqlite import LedgerVersionError, SqliteLedger
from adapters.prefork import run_workers
from adapters.storage.filesystem import FileSystemStore, StorageUnavailable
from bootstrap import build_app, build_janitor, build_lifecycle, build_partial_janitor
from config import Config, ConfigError, describe_limits, parse_config

log = logging.getLogger("uds")
# Start-up and shutdown lines are shown at every --log-level: scripts and
# people wait for "listening on", and where the files go is never noise.
lifecycle = logging.getLogger("uds.lifecycle")
lifecycle.setLevel(logging.INFO)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False,
                                dualstack_ipv6=False)
    sock.setblocking(False)
    return sock


LEDGER_FILE = "ledger.sqlite3"


async def serve(config: Config, store: FileSystemStore, ledger: SqliteLedger, sock: socket.socket,
                announce: bool = True, janitor: bool = True) -> None:
    clock = AsyncioClock()
    # With two CPUs or more, uploads are hashed beside the event loop, in
    # threads made here (after a --workers fork), one per CPU the process may
    # use: receiving and hashing overlap. On one CPU nothing can overlap, and
    # hashing on the loop costs least (no thread round trips).
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    hash_threads = concurrent.futures.ThreadPoolExecutor(cpus, thread_name_prefix="uds-hash") if cpus > 1 else None
    server = build_app(config, store, clock, RandomIds(), ledger,
                       hashing=ThreadedHashing(hash_threads) if hash_threads else None)
    await server.start(sock)
    # One process sweeps (worker 0): the ledger's janitor, and the one of abandoned resumable uploads.
    partials = build_partial_janitor(config, store, clock) if janitor else None
    sweeping = [asyncio.create_task(build_janitor(config, store, ledger, clock).run())] if janitor else []
    if partials is not None:
        sweeping.append(asyncio.create_task(partials.run()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if announce:
        lifecycle.info("listening on %s", listening_url(sock))
    await stop.wait()
    for task in sweeping:
        task.cancel()
    await server.shutdown()
    await asyncio.to_thread(ledger.close)
    if hash_threads:
        hash_threads.shutdown(wait=False)
    lifecycle.info("stopped")


def listening_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())  # UTC timestamps, as in the access log
    logging.basicConfig(level=config.log_level, handlers=[handler])
    store = FileSystemStore(Path(config.storage), fsync=config.fsync, min_free_space=config.min_free_space)
    try:
        removed = store.prepare()
    except StorageUnavailable as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 1
    ledger = SqliteLedger(store.root / LEDGER_FILE, durable=config.fsync)
    try:
        ledger.prepare()
        stale = ledger.clear_reservations()
        adopted = adopt_unrecorded_blobs(store, ledger, build_lifecycle(config, store, ledger, AsyncioClock()))
    except (sqlite3.Error, LedgerVersionError, OSError) as exc:
        print(f"main.py: error: ledger {ledger.path} is not usable: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"main.py: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    lifecycle.info("storage %s (%d leftover temporary file(s) removed), fsync %s",
                   store.root.resolve(), removed, "always" if config.fsync else "never")
    lifecycle.info("ledger %s (%d blob(s) without a record adopted, %d download reservation(s) of an earlier "
                   "run freed)", ledger.path, adopted, stale)
    lifecycle.info("limits: %s", describe_limits(config))
    if config.workers == 1:
        asyncio.run(serve(config, store, ledger, sock))
        return 0

    def worker(index: int) -> int:
        asyncio.run(serve(config, store, ledger, sock, announce=False, janitor=index == 0))
        return 0

    lifecycle.info("listening on %s with %d workers", listening_url(sock), config.workers)
    code = run_workers(config.workers, worker, on_exit=store.remove_uploads_of)
    lifecycle.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
