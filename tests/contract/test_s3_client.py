"""The S3 client against a real SeaweedFS (tests/seaweed.py): signatures
really checked, the conditional writes the ledger relies on, multipart rules,
ranged streaming reads. What SeaweedFS answers here is what the client's
docstring promises."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Awaitable, Callable, TypeVar

import pytest

from adapters.s3.client import NoSuchKey, PreconditionFailed, S3Client, S3Error
from tests.seaweed import SeaweedServer

T = TypeVar("T")


def with_client(server: SeaweedServer, scenario: Callable[[S3Client], Awaitable[T]], **overrides: object) -> T:
    bucket = server.new_bucket()

    async def main() -> T:
        client = S3Client(server.settings(bucket, **overrides), pool_size=4)
        try:
            return await scenario(client)
        finally:
            client.close()

    return asyncio.run(main())


def test_signatures_are_checked_and_a_missing_bucket_is_404(seaweed: SeaweedServer) -> None:
    async def scenario(good: S3Client) -> None:
        await good.head_bucket()
        bad = S3Client(seaweed.settings(good.settings.bucket, secret_key="not-the-secret"))
        nobody = S3Client(seaweed.settings(good.settings.bucket, access_key="UNKNOWNKEY"))
        missing = S3Client(seaweed.settings("no-such-bucket-here"))
        try:
            for client in (bad, nobody):
                with pytest.raises(S3Error) as refused:
                    await client.head_bucket()
                assert refused.value.status == 403
                with pytest.raises(S3Error) as refused:
                    await client.put_object("k", b"data")
                assert refused.value.status == 403
            with pytest.raises(S3Error) as absent:
                await missing.head_bucket()
            assert absent.value.status == 404
        finally:
            for client in (bad, nobody, missing):
                client.close()
        with pytest.raises(NoSuchKey):
            await good.head_object("k")

    with_client(seaweed, scenario)


@pytest.mark.parametrize("addressing", ["path", "virtual"])
def test_objects_round_trip_with_metadata(seaweed: SeaweedServer, addressing: str) -> None:
    key = "dir/na\u00efve name+x=y&z.txt"
    endpoint = seaweed.virtual_endpoint if addressing == "virtual" else seaweed.endpoint

    async def scenario(client: S3Client) -> None:
        etag = await client.put_object(key, b"hello", metadata={"Name": "a b", "sha256": "00ff"})
        assert etag.startswith('"') and etag.endswith('"')
        info = await client.head_object(key)
        assert (info.key, info.size, info.etag, dict(info.metadata)) == (key, 5, etag, {"name": "a b",
                                                                                        "sha256": "00ff"})
        assert (await client.get_object(key)).body == b"hello"
        await client.put_object("dir/other", b"")
        await client.put_object("else", b"x")
        assert [(i.key, i.size) for i in await client.list_objects("dir/")] == [("dir/na\u00efve name+x=y&z.txt", 5),
                                                                                ("dir/other", 0)]
        assert [i.key for i in await client.list_objects("", start_after="dir/other")] == ["else"]
        await client.delete_object(key)
        await client.delete_object(key)  # missing: no error
        with pytest.raises(NoSuchKey):
            await client.get_object(key)
        with pytest.raises(ValueError):
            await client.put_object("k", b"", metadata={"name": "caf\u00e9"})

    with_client(seaweed, scenario, addressing=addressing, endpoint=endpoint)


def test_listing_pages_past_a_thousand_keys_are_joined(seaweed: SeaweedServer) -> None:
    async def scenario(client: S3Client) -> None:
        keys = [f"k{n:04d}" for n in range(1003)]
        for start in range(0, len(keys), 50):
            await asyncio.gather(*(client.put_object(k, b"") for k in keys[start:start + 50]))
        assert [i.key for i in await client.list_objects("k", limit=2000)] == keys
        assert [i.key for i in await client.list_objects("k", "k0999", limit=3)] == keys[1000:]

    with_client(seaweed, scenario)


def test_conditional_writes_and_deletes(seaweed: SeaweedServer) -> None:
    async def scenario(client: S3Client) -> None:
        first = await client.put_object("rec", b"one", if_none_match=True)
        with pytest.raises(PreconditionFailed) as taken:
            await client.put_object("rec", b"two", if_none_match=True)
        assert taken.value.status == 412
        with pytest.raises(PreconditionFailed):
            await client.put_object("rec", b"three", if_match='"0123456789abcdef0123456789abcdef"')
        with pytest.raises(PreconditionFailed):
            await client.put_object("absent", b"four", if_match=first)
        assert (await client.get_object("rec")).body == b"one"
        second = await client.put_object("rec", b"five", if_match=first)
        assert second != first and (await client.get_object("rec")).body == b"five"
        with pytest.raises(PreconditionFailed):
            await client.delete_object("rec", if_match=first)
        assert (await client.head_object("rec")).etag == second
        await client.delete_object("rec", if_match=second)
        with pytest.raises(NoSuchKey):
            await client.head_object("rec")

    with_client(seaweed, scenario)


def test_multipart_parts_of_five_mib_but_the_last(seaweed: SeaweedServer) -> None:
    big, tail = os.urandom(5 << 20), b"tail"

    async def scenario(client: S3Client) -> None:
        small = await client.create_multipart("small")
        parts = [(1, await client.upload_part("small", small, 1, big[:(5 << 20) - 1])),
                 (2, await client.upload_part("small", small, 2, tail))]
        with pytest.raises(S3Error) as refused:
            await client.complete_multipart("small", small, parts)
        assert refused.value.code == "EntityTooSmall"
        await client.abort_multipart("small", small)
        await client.abort_multipart("small", small)  # gone: no error

        upload = await client.create_multipart("obj", {"name": "x"})
        assert (("obj", upload) in await client.list_multipart_uploads("o"))
        parts = [(1, await client.upload_part("obj", upload, 1, big)),
                 (2, await client.upload_part("obj", upload, 2, tail))]
        with pytest.raises(NoSuchKey):
            await client.head_object("obj")
        etag = await client.complete_multipart("obj", upload, parts)
        info = await client.head_object("obj")
        assert (info.size, info.etag, dict(info.metadata)) == (len(big) + 4, etag, {"name": "x"})
        assert await client.list_multipart_uploads("o") == []
        assert (await client.list_multipart_uploads("s")) == []

    with_client(seaweed, scenario)


def test_streams_read_ranges_as_they_arrive(seaweed: SeaweedServer) -> None:
    data = os.urandom(300_000)

    async def scenario(client: S3Client) -> None:
        await client.put_object("blob", data)
        stream = await client.open_stream("blob")
        assert stream.info.size == len(data)
        got = b""
        while chunk := await stream.read(65536):
            got += chunk
        stream.close()
        assert got == data
        stream = await client.open_stream("blob", 1000)
        assert stream.info.size == len(data) and await stream.read(10) == data[1000:1010]
        stream.close()  # unread rest: the connection is dropped, not reused
        stream = await client.open_stream("blob", 10, 19)
        assert await stream.read(100) == data[10:20] and await stream.read(1) == b""
        stream.close()
        with pytest.raises(NoSuchKey):
            await client.open_stream("missing")
        with pytest.raises(S3Error) as past:
            await client.open_stream("blob", len(data))
        assert past.value.status == 416
        with pytest.raises(S3Error) as large:
            await client.get_object("blob", max_size=1000)
        assert large.value.code == "ResponseTooLarge"
        assert (await client.get_object("blob", max_size=len(data))).body == data

    with_client(seaweed, scenario)


def test_a_body_that_does_not_match_its_checksum_is_refused(seaweed: SeaweedServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.s3.endpoint as endpoint_module

    class WrongDigest:
        @staticmethod
        def b64encode(digest: bytes) -> bytes:
            return base64.b64encode(hashlib.sha256(b"other bytes").digest())

    async def scenario(client: S3Client) -> None:
        await client.put_object("ok", b"bytes")
        monkeypatch.setattr(endpoint_module, "base64", WrongDigest)
        with pytest.raises(S3Error) as refused:
            await client.put_object("bad", b"bytes")
        assert (refused.value.status, refused.value.code) == (400, "BadDigest")
        monkeypatch.undo()
        with pytest.raises(NoSuchKey):
            await client.head_object("bad")

    with_client(seaweed, scenario)
