"""upload-download-service: the entry point.

Parses the configuration (``config.py``), prepares the storage (a directory
with the ledger in it, or an S3 bucket, checked at start, with the ledger
and the resumable uploads in it too), binds the listening socket, builds the service with
``bootstrap.build_app`` and runs it until SIGTERM or SIGINT, in one process
or in ``--workers`` pre-forked ones. The janitor (``bootstrap.build_janitor``)
runs in the single process, or in the first worker only (a replaced first
worker runs it again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Callable, Sequence

from adapters.clock import AsyncioClock
from adapters.adoption import adopt_unrecorded_blobs
from adapters.http.access_log import LogFormatter
from adapters.ids import RandomIds
from adapters.ledger.sqlite import LedgerVersionError, SqliteLedger
from adapters.prefork import run_workers
from adapters.ledger.objects import ObjectLedger
from adapters.s3.client import S3Client, S3Error, S3Settings
from adapters.storage.filesystem import FileSystemStore, StorageUnavailable
from adapters.storage.s3 import S3Store
from adapters.storage.s3_resumable import ResumableS3Store
from bootstrap import build_app, build_janitor, build_lifecycle, build_partial_janitor
from config import Config, ConfigError, describe_limits, parse_config, s3_location
from ports.ledger import Ledger, LedgerUnavailable
from ports.storage import Storage

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


async def serve(config: Config, store: Storage, ledger: Ledger, sock: socket.socket,
                announce: bool = True, janitor: bool = True) -> None:
    clock = AsyncioClock()
    server = build_app(config, store, clock, RandomIds(), ledger)
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
    # Not every port has a close: the SQLite ledger's connections, the S3 store's pool and threads.
    for closing in (getattr(ledger, "close", None), getattr(store, "close", None)):
        if callable(closing):
            await asyncio.to_thread(closing)
    lifecycle.info("stopped")


def listening_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class StartupError(Exception):
    """The storage or the ledger cannot be used: one line for stderr, exit 1."""


def open_directory(config: Config) -> tuple[FileSystemStore, SqliteLedger, Callable[[int], object] | None]:
    """The storage directory, its ledger, and what a dead worker leaves to clean."""
    store = FileSystemStore(Path(config.storage), fsync=config.fsync, min_free_space=config.min_free_space)
    try:
        removed = store.prepare()
    except StorageUnavailable as exc:
        raise StartupError(str(exc)) from None
    ledger = open_ledger(config, store.root / LEDGER_FILE)
    try:
        adopted = adopt_unrecorded_blobs(store, ledger, build_lifecycle(config, store, ledger, AsyncioClock()))
    except (sqlite3.Error, OSError) as exc:
        raise StartupError(f"ledger {ledger.path} is not usable: {exc}") from None
    lifecycle.info("storage %s (%d leftover temporary file(s) removed), fsync %s",
                   store.root.resolve(), removed, "always" if config.fsync else "never")
    lifecycle.info("ledger %s (%d blob(s) without a record adopted)", ledger.path, adopted)
    return store, ledger, store.remove_uploads_of


def open_ledger(config: Config, path: Path) -> SqliteLedger:
    ledger = SqliteLedger(path, durable=config.fsync)
    try:
        ledger.prepare()
        stale = ledger.clear_reservations()
    except (sqlite3.Error, LedgerVersionError, OSError) as exc:
        raise StartupError(f"ledger {ledger.path} is not usable: {exc}") from None
    lifecycle.info("ledger %s: %d download reservation(s) of an earlier run freed", path, stale)
    return ledger


def open_s3(config: Config) -> tuple[ResumableS3Store, ObjectLedger, None]:
    """The bucket, checked (``HeadBucket``, a signed listing, and that the
    server honours conditional writes, which the ledger and the partial
    uploads kept in the bucket rely on) before anything listens; the store,
    with partial (tus) uploads, and the ledger, both in the bucket, so that
    any number of instances can share it."""
    bucket, prefix = s3_location(config.storage)
    endpoint = config.s3_endpoint or f"https://s3.{os.environ.get('AWS_REGION') or 'us-east-1'}.amazonaws.com"
    try:
        settings = S3Settings.from_env(endpoint, bucket, os.environ, addressing=config.s3_addressing)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    probe_client = S3Client(settings, pool_size=1)  # its threads end here, before any fork
    try:
        asyncio.run(check_bucket(S3Store(probe_client, prefix), ObjectLedger(probe_client, prefix)))
    except S3Error as exc:
        reason = {403: "access denied: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
                  404: "no such bucket"}.get(exc.status, "unexpected answer")
        raise StartupError(f"S3 bucket {bucket!r} at {endpoint}: {reason} ({exc.status} {exc.code})") from None
    except LedgerUnavailable as exc:
        raise StartupError(f"S3 bucket {bucket!r} at {endpoint}: {exc}") from None
    except OSError as exc:
        raise StartupError(f"S3 endpoint {endpoint} unreachable: {exc}") from None
    finally:
        probe_client.close()
    lifecycle.info("storage s3://%s/%s at %s (%s addressing, parts of %d bytes), ledger and resumable uploads in "
                   "the bucket", bucket, prefix, endpoint, config.s3_addressing, config.s3_part_size)
    client = S3Client(settings)
    return ResumableS3Store(client, prefix, config.s3_part_size), ObjectLedger(client, prefix), None


async def check_bucket(store: S3Store, ledger: ObjectLedger) -> None:
    await store.check()
    await ledger.probe()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())  # UTC timestamps, as in the access log
    logging.basicConfig(level=config.log_level, handlers=[handler])
    store: Storage
    ledger: Ledger
    on_exit: Callable[[int], object] | None
    try:
        store, ledger, on_exit = open_s3(config) if config.s3 else open_directory(config)
    except StartupError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"main.py: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    lifecycle.info("limits: %s", describe_limits(config))
    if config.workers == 1:
        asyncio.run(serve(config, store, ledger, sock))
        return 0

    def worker(index: int) -> int:
        asyncio.run(serve(config, store, ledger, sock, announce=False, janitor=index == 0))
        return 0

    lifecycle.info("listening on %s with %d workers", listening_url(sock), config.workers)
    code = run_workers(config.workers, worker, on_exit=on_exit)
    lifecycle.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
