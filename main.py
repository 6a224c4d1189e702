"""upload-download-service: the entry point.

Parses the configuration (``config.py``), opens the storage
(``storage_setup.py``: a directory with the ledger in it, or an S3 bucket,
checked at start, with the ledger and the resumable uploads in it too), binds
the listening socket (and the ``--metrics-listen`` one), makes the metrics
table the workers share, builds the service with
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
import sys
from typing import Sequence

from adapters.clock import AsyncioClock
from adapters.hashing import ThreadedHashing
from adapters.http.access_log import JsonLogFormatter, LogFormatter
from adapters.ids import RandomIds
from adapters.malloc import keep_big_buffers_off_the_heap
from adapters.metrics.registry import Metrics, WorkerMetrics
from adapters.prefork import run_workers
from bootstrap import build_app, build_janitor, build_metrics, build_operations_server, build_partial_janitor
from config import Config, ConfigError, describe_limits, listen_address, parse_config
from ports.ledger import Ledger
from ports.storage import Storage
from storage_setup import StartupError, open_storage

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


async def serve(config: Config, store: Storage, ledger: Ledger, sock: socket.socket,
                metrics: Metrics, worker: int = 0, metrics_sock: socket.socket | None = None,
                announce: bool = True) -> None:
    """Serve as worker ``worker`` (0 in a single process): the main socket,
    and the ``--metrics-listen`` one when given; worker 0 runs the janitors."""
    clock = AsyncioClock()
    mine = WorkerMetrics(metrics, worker)
    # With two CPUs or more, uploads are hashed beside the event loop, in
    # threads made here (after a --workers fork), one per CPU the process may
    # use: receiving and hashing overlap. On one CPU nothing can overlap, and
    # hashing on the loop costs least (no thread round trips).
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    hash_threads = concurrent.futures.ThreadPoolExecutor(cpus, thread_name_prefix="uds-hash") if cpus > 1 else None
    servers = [build_app(config, store, clock, RandomIds(), ledger, metrics=mine,
                         hashing=ThreadedHashing(hash_threads) if hash_threads else None)]
    await servers[0].start(sock)
    if metrics_sock is not None:
        servers.append(build_operations_server(config, store, clock, ledger, mine, servers[0].access_log))
        await servers[1].start(metrics_sock)
    # One process sweeps (worker 0): the ledger's janitor, and the one of abandoned resumable uploads.
    janitor = worker == 0
    partials = build_partial_janitor(config, store, clock) if janitor else None
    sweeping = [asyncio.create_task(build_janitor(config, store, ledger, clock, mine.recorder).run())
                ] if janitor else []
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
    await asyncio.gather(*(server.shutdown() for server in servers))
    # Not every port has a close: the SQLite ledger's connections, the S3 store's pool and threads.
    for closing in (getattr(ledger, "close", None), getattr(store, "close", None)):
        if callable(closing):
            await asyncio.to_thread(closing)
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
    # UTC timestamps, as in the access log; JSON with --log-format json, as the access log then is
    handler.setFormatter(JsonLogFormatter() if config.log_format == "json" else LogFormatter())
    logging.basicConfig(level=config.log_level, handlers=[handler])
    # Before any thread or fork: S3 parts and other big buffers are given back
    # to the system when freed (see adapters/malloc.py).
    keep_big_buffers_off_the_heap()
    try:
        store, ledger, on_exit = open_storage(config)
    except StartupError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"main.py: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    metrics_sock = None
    if config.metrics_listen:
        try:
            metrics_sock = bind(*listen_address(config.metrics_listen))
        except OSError as exc:
            print(f"main.py: error: cannot listen on {config.metrics_listen} (--metrics-listen): "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 1
        lifecycle.info("metrics on %s/metrics", listening_url(metrics_sock))
    # Before forking: the workers share it (see adapters/metrics/table.py).
    metrics = build_metrics(config)
    lifecycle.info("limits: %s", describe_limits(config))
    if config.workers == 1:
        asyncio.run(serve(config, store, ledger, sock, metrics, 0, metrics_sock))
        return 0

    def worker(index: int) -> int:
        asyncio.run(serve(config, store, ledger, sock, metrics, index, metrics_sock, announce=False))
        return 0

    lifecycle.info("listening on %s with %d workers", listening_url(sock), config.workers)
    code = run_workers(config.workers, worker, on_exit=on_exit)
    lifecycle.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
