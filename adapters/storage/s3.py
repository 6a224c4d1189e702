"""A blob store in an S3 bucket (AWS, SeaweedFS, MinIO, Ceph RGW, ...).

The ``Storage`` port plus ``Listing`` and ``HealthReport``, on the stdlib S3
client (``adapters/s3``). What lives where in the bucket, and why a blob is
a record object plus a data object, is in ``adapters/s3/layout.py``; the
streaming multipart writer in ``adapters/s3/writer.py``; the one-GET reader
in ``adapters/s3/reader.py``.

Every call is a network round trip run in the client's thread pool, never on
the event loop. Several service instances may share one bucket and prefix:
a blob committed by one is visible to all (``If-None-Match`` on the record
keeps an id from being committed twice).
"""

from __future__ import annotations

import logging
import math
import re

from adapters.s3.client import NoSuchKey, S3Client, S3Error
from adapters.s3.layout import RECORD_LIMIT, BlobRecord, CorruptRecord, Layout, parse_record
from adapters.s3.reader import S3BlobReader
from adapters.s3.writer import MAX_PARTS, MIN_PART_SIZE, S3BlobWriter
from ports.storage import BlobInfo, BlobNotFound, StorageFull

log = logging.getLogger("uds.storage")

DEFAULT_PART_SIZE = 8 << 20
MAX_PART_SIZE = 5 << 30  # S3's ceiling for one part
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


def _check_id(blob_id: str) -> str:
    # Ids are validated by the domain; this is defence in depth so that no id
    # can ever name a key outside the store's own (no "/", no "..").
    if not SAFE_ID.match(blob_id):
        raise BlobNotFound(blob_id)
    return blob_id


class S3Store:
    """Blobs under ``prefix`` ("" or ending in ``/``) of the client's bucket,
    uploaded in parts of ``part_size`` bytes (5 MiB at least: S3's floor)."""

    def __init__(self, client: S3Client, prefix: str = "", part_size: int = DEFAULT_PART_SIZE) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"S3 part size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        self.client = client
        self.layout = Layout(prefix)
        self.part_size = part_size

    async def check(self) -> None:
        """Raise ``S3Error`` unless the bucket exists and these credentials can
        read it: ``HeadBucket`` then a listing (a signed GET whose answer
        SeaweedFS and AWS refuse with 403 on a bad signature)."""
        await self.client.head_bucket()
        await self.client.list_objects(self.layout.blobs_prefix, limit=1)

    async def open_writer(self, blob_id: str, size_hint: int | None) -> S3BlobWriter:
        """A writer whose parts are large enough for ``size_hint`` bytes to fit
        in S3's 10,000 parts (``StorageFull`` past 10,000 parts of 5 GiB)."""
        _check_id(blob_id)
        part_size = self.part_size
        if size_hint and size_hint > part_size * (MAX_PARTS - 1):
            part_size = math.ceil(size_hint / (MAX_PARTS - 1) / (1 << 20)) << 20
            if part_size > MAX_PART_SIZE:
                raise StorageFull(f"{size_hint} bytes is more than one S3 object can hold")
        return S3BlobWriter(self.client, self.layout, blob_id, part_size)

    async def _record(self, blob_id: str) -> BlobRecord:
        try:
            body = (await self.client.get_object(self.layout.blob_key(_check_id(blob_id)), max_size=RECORD_LIMIT)).body
        except NoSuchKey:
            raise BlobNotFound(blob_id) from None
        try:
            return parse_record(body)
        except CorruptRecord as exc:
            raise OSError(f"S3 blob record {blob_id} is corrupt: {exc}") from exc

    async def stat(self, blob_id: str) -> BlobInfo:
        """One ``GetObject`` of the small record."""
        return (await self._record(blob_id)).info

    async def open_reader(self, blob_id: str) -> S3BlobReader:
        """The record, then one streaming ``GetObject`` of the data that the
        reader's sequential reads share."""
        record = await self._record(blob_id)
        key = self.layout.data_key(blob_id, record.data)
        try:
            return await S3BlobReader.open(self.client, key, record.info)
        except NoSuchKey:  # deleted between the record and the data
            raise BlobNotFound(blob_id) from None

    async def delete(self, blob_id: str) -> None:
        """The record first (the blob is gone from then on), then the data; a
        failure to delete the data is logged, and the data stays an orphan
        that nothing refers to."""
        record = await self._record(blob_id)
        await self.client.delete_object(self.layout.blob_key(blob_id))
        data_key = self.layout.data_key(blob_id, record.data)
        try:
            await self.client.delete_object(data_key)
        except (OSError, S3Error) as exc:
            log.warning("could not delete S3 object %s: %s", data_key, exc)

    async def list_ids(self, after: str, limit: int) -> list[str]:
        """The ``Listing`` capability: ``ListObjectsV2`` of the records."""
        prefix = self.layout.blobs_prefix
        found = await self.client.list_objects(prefix, prefix + after if after else "", limit)
        return [info.key[len(prefix):] for info in found]

    async def health(self) -> str | None:
        """The ``HealthReport`` capability: one ``HeadBucket``."""
        try:
            await self.client.head_bucket()
        except S3Error as exc:
            return f"S3 bucket {self.client.settings.bucket} answers {exc.status} {exc.code}"
        except OSError as exc:
            return f"S3 endpoint unreachable: {exc}"
        return None

    def close(self) -> None:
        self.client.close()
