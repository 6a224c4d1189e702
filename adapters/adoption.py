"""Start-up: give a ledger record to every committed blob that has none.

A blob can lack a record in two ways: an upload committed just before a
crash, before its record was added (its ``201`` was never sent); or a
storage directory written by a version without the ledger, or whose ledger
file was lost. Such a blob answers 404 (the ledger is the truth), so rather
than delete data on an inference, it is adopted: it gets the default life
counted from now (``Lifecycle.adopted``), and the janitor removes it when
that ends. One scan of ``objects/``, in the parent before any worker runs
(nothing is uploading then, so no blob is between its commit and its
record); blocking, a shard at a time, with one ledger query per shard.
"""

from __future__ import annotations

import logging

from adapters.ledger.sqlite import SqliteLedger
from adapters.ledger.startup import add_records, unknown_ids
from adapters.storage.filesystem import FileSystemStore
from domain.lifecycle import Lifecycle
from domain.model import stored_from_info
from ports.storage import BlobNotFound

log = logging.getLogger("uds.adoption")


def adopt_unrecorded_blobs(store: FileSystemStore, ledger: SqliteLedger, lifecycle: Lifecycle) -> int:
    """Add a record for each blob without one; returns how many. A blob
    whose metadata cannot be read is left alone (it answers 404) and logged."""
    adopted = 0
    for ids in store.blob_ids_by_shard():
        records = []
        for file_id in unknown_ids(ledger, ids):
            try:
                stored = stored_from_info(file_id, store.stat_blocking(file_id))
            except BlobNotFound:
                continue
            except (OSError, ValueError, KeyError) as exc:
                log.warning("blob %s has no ledger record and unreadable metadata (%s): left alone", file_id, exc)
                continue
            records.append(lifecycle.adopted(stored))
        if records:
            adopted += add_records(ledger, records)
    return adopted
