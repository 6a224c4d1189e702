"""Opening the storage at start-up, before anything listens: a directory
with its SQLite ledger (leftovers cleaned, unrecorded blobs adopted), or an S3
bucket checked for access and conditional writes, with the ledger and the
resumable uploads kept in the bucket too. Each failure is one line for
stderr (``StartupError``; ``main.py`` exits 1)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path
from typing import Callable

from adapters.adoption import adopt_unrecorded_blobs
from adapters.clock import AsyncioClock
from adapters.ledger.objects import ObjectLedger
from adapters.ledger.sqlite import LedgerVersionError, SqliteLedger
from adapters.s3.client import S3Client, S3Error, S3Settings
from adapters.storage.filesystem import FileSystemStore, StorageUnavailable
from adapters.storage.s3 import S3Store
from adapters.storage.s3_resumable import ResumableS3Store
from bootstrap import build_lifecycle
from config import Config, s3_location
from ports.ledger import Ledger, LedgerUnavailable
from ports.storage import Storage

lifecycle = logging.getLogger("uds.lifecycle")

LEDGER_FILE = "ledger.sqlite3"

# What a dead worker leaves to clean (its temporary files), if anything.
OnExit = Callable[[int], object] | None


class StartupError(Exception):
    """The storage or the ledger cannot be used: one line for stderr, exit 1."""


def open_storage(config: Config) -> tuple[Storage, Ledger, OnExit]:
    """The store and ledger ``--storage`` names, ready to serve."""
    return open_s3(config) if config.s3 else open_directory(config)


def open_directory(config: Config) -> tuple[FileSystemStore, SqliteLedger, OnExit]:
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


def open_s3(config: Config) -> tuple[ResumableS3Store, ObjectLedger, OnExit]:
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
