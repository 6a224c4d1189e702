"""The domain services on in-memory fakes of every port."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from adapters.throttle import UNLIMITED, TokenBucket
from domain.errors import EmptyUpload, FileNotFound, StorageFull, UploadTooLarge
from domain.lifecycle import Lifecycle
from domain.terms import LifecyclePolicy
from domain.services import CheckService, DownloadService, UploadRequest, UploadService
from tests.fake_ledger import MemoryLedger
from tests.fakes import BytesSource, CollectingSink, FakeClock, MemoryStore, SequentialIds


def make(max_size: int = 0, capacity: int = 0) -> tuple[MemoryStore, FakeClock, UploadService, CheckService,
                                                        DownloadService]:
    store = MemoryStore(capacity)
    links = SequentialIds()
    clock = FakeClock()
    files = Lifecycle(MemoryLedger(), store, clock, LifecyclePolicy())
    return (store, clock, UploadService(store, links, clock, max_size, files), CheckService(store, links, files),
            DownloadService(store, links, files, clock))


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_upload_then_check_then_download_gives_the_same_bytes() -> None:
    store, clock, upload, check, download = make()
    body = b"hello world" * 1000

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest("x.pdf", "application/pdf", len(body)),
                                      BytesSource(body), UNLIMITED)).file
        assert stored.name == "x.pdf"
        assert stored.size == len(body)
        assert stored.sha256 == hashlib.sha256(body).hexdigest()
        assert stored.content_type == "application/pdf"
        assert stored.created.timestamp() == clock.wall()
        checked = (await check.check(stored.id)).file
        assert checked == stored
        opened = await download.open(stored.id)
        sink = CollectingSink()
        await download.send(opened, 0, stored.size, sink, UNLIMITED)
        assert bytes(sink.data) == body
        assert sink.blob_sends == 1  # unthrottled: the sink's fastest path

    run(scenario())


def test_two_uploads_of_the_same_name_get_different_ids() -> None:
    _, _, upload, _, _ = make()

    async def scenario() -> None:
        a = (await upload.upload(UploadRequest("same.txt", None, None), BytesSource(b"a"), UNLIMITED)).file
        b = (await upload.upload(UploadRequest("same.txt", None, None), BytesSource(b"b"), UNLIMITED)).file
        assert a.id != b.id
        assert a.name == b.name == "same.txt"

    run(scenario())


def test_name_is_made_from_id_and_type_when_missing() -> None:
    _, _, upload, _, _ = make()

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest(None, "application/pdf", None), BytesSource(b"%PDF"),
                                      UNLIMITED)).file
        assert stored.name == f"{stored.id}.pdf"
        stored = (await upload.upload(UploadRequest("../../", None, None), BytesSource(b"x"), UNLIMITED)).file
        assert stored.name == stored.id

    run(scenario())


def test_path_components_never_survive_in_the_name() -> None:
    _, _, upload, _, _ = make()

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest("../../etc/passwd", None, None), BytesSource(b"x"), UNLIMITED)).file
        assert stored.name == "passwd"
        stored = (await upload.upload(UploadRequest("C:\\dir\\evil\r\n.txt", None, None), BytesSource(b"x"),
                                      UNLIMITED)).file
        assert stored.name == "evil.txt"

    run(scenario())


def test_declared_size_over_the_limit_is_refused_before_reading() -> None:
    store, _, upload, _, _ = make(max_size=10)
    source = BytesSource(b"x" * 11)

    async def scenario() -> None:
        with pytest.raises(UploadTooLarge):
            await upload.upload(UploadRequest("a", None, 11), source, UNLIMITED)

    run(scenario())
    assert source.reads == []
    assert store.open_writers == 0 and not store.blobs


def test_streamed_body_over_the_limit_is_aborted_and_nothing_stored() -> None:
    store, _, upload, _, _ = make(max_size=10)

    async def scenario() -> None:
        with pytest.raises(UploadTooLarge):
            await upload.upload(UploadRequest("a", None, None), BytesSource(b"x" * 6, b"y" * 6), UNLIMITED)

    run(scenario())
    assert not store.blobs and store.aborted == 1 and store.open_writers == 0


def test_body_of_exactly_the_limit_is_accepted() -> None:
    store, _, upload, _, _ = make(max_size=10)
    run(upload.upload(UploadRequest("a", None, 10), BytesSource(b"x" * 10), UNLIMITED))
    assert len(store.blobs) == 1


def test_empty_upload_is_refused_and_nothing_stored() -> None:
    store, _, upload, _, _ = make()

    async def scenario() -> None:
        with pytest.raises(EmptyUpload):
            await upload.upload(UploadRequest("a", None, None), BytesSource(), UNLIMITED)
        with pytest.raises(EmptyUpload):
            upload.precheck(0)

    run(scenario())
    assert not store.blobs and store.open_writers == 0


def test_client_disconnect_aborts_the_writer() -> None:
    store, _, upload, _, _ = make()

    async def scenario() -> None:
        with pytest.raises(ConnectionResetError):
            await upload.upload(UploadRequest("a", None, 100), BytesSource(b"x" * 100, fail_after=40), UNLIMITED)

    run(scenario())
    assert not store.blobs and store.aborted == 1


def test_full_storage_maps_to_the_domain_error() -> None:
    store, _, upload, _, _ = make(capacity=50)

    async def scenario() -> None:
        with pytest.raises(StorageFull):
            await upload.upload(UploadRequest("a", None, 100), BytesSource(b"x" * 100), UNLIMITED)
        with pytest.raises(StorageFull):
            await upload.upload(UploadRequest("a", None, None), BytesSource(b"x" * 100), UNLIMITED)

    run(scenario())
    assert not store.blobs


@pytest.mark.parametrize("bad_id", ["", "..", "../etc/passwd", "id-1/..", "id-%2F", "id-1\x00", "ID-1"])
def test_invalid_ids_are_not_found_without_touching_storage(bad_id: str) -> None:
    store, _, _, check, download = make()
    store.blobs[bad_id] = (b"secret", {})  # even if the store had such a key

    async def scenario() -> None:
        with pytest.raises(FileNotFound) as caught:
            await check.check(bad_id)
        assert caught.value.file_id == bad_id
        with pytest.raises(FileNotFound):
            await download.open(bad_id)

    run(scenario())


def test_unknown_valid_id_is_not_found() -> None:
    _, _, _, check, download = make()

    async def scenario() -> None:
        with pytest.raises(FileNotFound):
            await check.check("id-99")
        with pytest.raises(FileNotFound):
            await download.open("id-99")

    run(scenario())


def test_throttled_download_sends_paid_slices_and_exact_bytes() -> None:
    _, clock, upload, _, download = make()
    body = bytes(range(256)) * 1000  # 256,000 bytes

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest("a", None, None), BytesSource(body), UNLIMITED)).file
        opened = await download.open(stored.id)
        bucket = TokenBucket(rate=64_000, burst=64_000, clock=clock)
        sink = CollectingSink(clock)
        start = clock.now()
        await clock.run(download.send(opened, 1000, 200_000, sink, bucket))
        assert bytes(sink.data) == body[1000:201_000]
        assert sink.blob_sends == 0
        assert max(n for _, n in sink.writes) <= bucket.chunk_size
        # 200,000 bytes at 64,000 B/s with a 64,000-byte burst: (200000 - 64000) / 64000 s
        assert clock.now() - start == pytest.approx((200_000 - 64_000) / 64_000, abs=1e-9)

    run(scenario())


def test_throttled_upload_reads_only_as_fast_as_the_bucket_allows() -> None:
    _, clock, upload, _, _ = make()
    body = b"z" * 300_000
    source = BytesSource(body)

    async def scenario() -> None:
        bucket = TokenBucket(rate=100_000, burst=65_536, clock=clock)
        start = clock.now()
        [stored] = await clock.run(upload.upload(UploadRequest("a", None, len(body)), source, bucket))
        assert stored.file.size == len(body)
        assert clock.now() - start == pytest.approx((300_000 - 65_536) / 100_000, abs=1e-9)
        assert max(source.reads) <= bucket.chunk_size

    run(scenario())


def test_download_of_a_truncated_blob_raises_instead_of_hanging() -> None:
    store, clock, upload, _, download = make()

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest("a", None, None), BytesSource(b"x" * 100_000), UNLIMITED)).file
        data, meta = store.blobs[stored.id]
        opened = await download.open(stored.id)
        store.blobs[stored.id] = (data[:10], meta)
        opened.reader = await store.open_reader(stored.id)
        bucket = TokenBucket(rate=1_000_000, burst=65_536, clock=clock)
        with pytest.raises(OSError):
            await clock.run(download.send(opened, 0, 100_000, CollectingSink(), bucket))

    run(scenario())


def test_check_reuses_the_record_while_the_store_returns_the_same_info() -> None:
    store, _, upload, check, _ = make()

    async def scenario() -> None:
        stored = (await upload.upload(UploadRequest("a", None, None), BytesSource(b"abc"), UNLIMITED)).file
        info = await store.stat(stored.id)

        async def same_info(blob_id: str) -> object:
            return info

        store.stat = same_info  # type: ignore[method-assign, assignment]
        first = (await check.check(stored.id)).file
        assert (await check.check(stored.id)).file is first
        store.blobs[stored.id] = (b"abcd", dict(info.metadata))
        del store.stat  # back to the real method: a new info object, so a new record
        changed = (await check.check(stored.id)).file
        assert changed is not first and changed.size == 4

    run(scenario())
