"""The ledger kept in a bucket, on a real SeaweedFS (tests/seaweed.py), where
the guarantee rests on the server: several instances (each with its own
client and connection pool, as separate processes would have) racing for
the last downloads get exactly the limit, and the start-up probe finds that
this server honours conditional writes."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Iterator

import pytest

from adapters.ledger.objects import ObjectLedger
from adapters.s3.client import S3Client
from ports.ledger import Record
from tests.seaweed import SeaweedServer

INSTANCES = 4


@pytest.fixture
def clients(seaweed: SeaweedServer) -> Iterator[list[S3Client]]:
    bucket = seaweed.new_bucket()
    made = [S3Client(seaweed.settings(bucket), pool_size=8) for _ in range(INSTANCES)]
    yield made
    for client in made:
        client.close()


def test_instances_racing_for_the_last_downloads_get_exactly_the_limit(clients: list[S3Client]) -> None:
    async def scenario() -> None:
        ledgers = [ObjectLedger(client, "svc") for client in clients]
        await ledgers[0].probe()  # SeaweedFS 4.48 honours If-None-Match and If-Match
        for limit in (1, 2):
            file_id = f"race{limit}"
            await ledgers[0].add(Record(file_id, 10, 1000.0, None, limit, 0, hashlib.sha256(b"t").hexdigest(), "c"))
            for round_ in range(3):  # each round: every instance tries three times at once
                racers = await asyncio.gather(*(ledger.reserve_download(file_id, 1000.0 + 100 * round_, 60.0)
                                                for ledger in ledgers for _ in range(3)))
                admitted = [r for r in racers if r is not None]
                assert len(admitted) == limit
                for reservation, ledger in zip(admitted, ledgers[1:]):
                    await ledger.release_download(reservation)
            winners = await asyncio.gather(*(ledger.reserve_download(file_id, 2000.0, 60.0) for ledger in ledgers))
            counted = [await ledgers[-1].complete_download(r, 2001.0) for r in winners if r is not None]
            assert sorted(c for c in counted if c is not None) == list(range(limit))
            stored = await ledgers[2].get(file_id)
            assert stored is not None and stored.downloads == limit and not stored.available(2001.0)

    asyncio.run(scenario())
