"""Resumable uploads with real tus clients against the running service:
tuspy (Python) and tus-js-client (Node), each interrupted (its process killed,
or its connection cut) and resumed from the offset the server reports; the
server killed with -9 mid-PATCH and restarted; two PATCHes at once across
worker processes. Every upload ends with the downloaded file's sha256 equal
to the original's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest
from tusclient import client as tus

from adapters.storage.filesystem import FileSystemStore
from tests.e2e.conftest import ServiceFactory, start_service
from tests.e2e.tus_tools import (
    CuttingProxy,
    downloaded_sha256,
    events,
    server_offset,
    settled_offset,
    sha256_of,
    start_tusjs,
    tusjs_missing,
)
from tests.e2e.faults import wait_until
from tests.e2e.wire import Wire

pytestmark = pytest.mark.e2e

SIZE = 6 * 1024 * 1024 + 12345  # not a multiple of any chunk size
CHUNK = 256 * 1024
KILL_AT = 1536 * 1024  # the client is killed once the server has this much
# With this per-connection limit an upload takes about 3 s: long enough to
# kill the client in the middle, on a loaded machine too.
SLOW = ("--upload-rate", "2M")

TUSPY_CHILD = """
import sys
from tusclient import client
uploader = client.TusClient(sys.argv[1]).uploader(sys.argv[2], chunk_size=int(sys.argv[3]),
                                                  metadata={"filename": "big.bin"})
while uploader.offset < uploader.get_file_size():
    uploader.upload_chunk()
    print(uploader.url, uploader.offset, flush=True)
"""


@pytest.fixture
def original(tmp_path: Path) -> Path:
    path = tmp_path / "original.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(10)


def test_tuspy_resumes_after_its_process_is_killed(make_service: ServiceFactory, original: Path) -> None:
    service = make_service(*SLOW)
    child = subprocess.Popen([sys.executable, "-c", TUSPY_CHILD, service.url + "/files/", str(original),
                              str(CHUNK)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            url, printed = line.split()
            if int(printed) >= KILL_AT:
                break
    finally:
        kill(child)
    offset = settled_offset(url)
    assert KILL_AT <= offset < SIZE
    uploader = tus.TusClient(service.url + "/files/").uploader(str(original), url=url, chunk_size=CHUNK)
    assert uploader.offset == offset  # it asked the server where to go on
    uploader.upload()
    assert downloaded_sha256(url) == sha256_of(original)


def test_tuspy_resumes_after_its_connection_is_cut(make_service: ServiceFactory, original: Path) -> None:
    service = make_service()
    proxy = CuttingProxy(service.port, cut_after=KILL_AT + 100_000)
    try:
        uploader = tus.TusClient(f"http://127.0.0.1:{proxy.port}/files/").uploader(
            str(original), chunk_size=4 * CHUNK, retries=3, retry_delay=1, upload_checksum=True)
        uploader.upload()
        assert proxy.cuts == 1
        # The chunk cut midway carried a checksum: it was discarded whole and
        # sent again; nothing before it was.
        assert proxy.sent < SIZE + 4 * CHUNK + 64 * 1024
        url = cast(str, uploader.url)  # typed None by tuspy until it is set
        assert downloaded_sha256(url.replace(str(proxy.port), str(service.port))) == sha256_of(original)
    finally:
        proxy.close()


@pytest.mark.skipif(tusjs_missing() is not None, reason=str(tusjs_missing()))
def test_tus_js_client_resumes_after_its_process_is_killed(make_service: ServiceFactory, original: Path) -> None:
    service = make_service(*SLOW)
    first = start_tusjs(endpoint=service.url + "/files/", file=str(original), chunkSize=CHUNK)
    try:
        for event in events(first.stdout):
            assert event["event"] != "error", event
            if event["event"] == "chunk" and int(str(event["offset"])) >= KILL_AT:
                url = str(event["url"])
                break
    finally:
        kill(first)
    offset = settled_offset(url)
    assert KILL_AT <= offset < SIZE
    second = start_tusjs(endpoint=service.url + "/files/", file=str(original), chunkSize=CHUNK, uploadUrl=url,
                         overridePatchMethod=True)
    try:
        seen = list(events(second.stdout))
        assert second.wait(60) == 0, seen
    finally:
        kill(second)
    requests_made = [e for e in seen if e["event"] == "request"]
    assert requests_made[0]["method"] == "HEAD"
    assert requests_made[1] == {"event": "request", "method": "POST", "offset": str(offset)}  # PATCH, overridden
    done = seen[-1]
    assert done["event"] == "done" and done["download"] == f"{service.url}/download/{url.rsplit('/', 1)[1]}"
    assert downloaded_sha256(url) == sha256_of(original)


@pytest.mark.skipif(tusjs_missing() is not None, reason=str(tusjs_missing()))
def test_tus_js_client_resumes_a_one_request_upload_after_its_connection_is_cut(
        make_service: ServiceFactory, original: Path) -> None:
    service = make_service()
    proxy = CuttingProxy(service.port, cut_after=KILL_AT)
    node = start_tusjs(endpoint=f"http://127.0.0.1:{proxy.port}/files/", file=str(original),
                       chunkSize=None)  # the whole file in one PATCH
    try:
        seen = list(events(node.stdout))
        assert node.wait(60) == 0, seen
    finally:
        kill(node)
        proxy.close()
    assert proxy.cuts == 1
    patches = [e["offset"] for e in seen if e["event"] == "request" and e["method"] == "PATCH"]
    # What arrived before the cut was kept: the client went on from there
    # (after a retry refused with 423 or 409 if it asked before the server
    # had seen the cut).
    assert patches[0] == "0" and int(str(patches[-1])) > KILL_AT // 2, seen
    url = str(seen[-1]["url"]).replace(str(proxy.port), str(service.port))
    assert downloaded_sha256(url) == sha256_of(original)


def test_server_killed_mid_patch_restarts_at_the_recorded_offset(
        make_service: ServiceFactory, original: Path, tmp_path: Path) -> None:
    data = original.read_bytes()
    service = make_service()
    with Wire(service.host, service.port) as wire:
        wire.send(b"POST /files/ HTTP/1.1\r\nHost: h\r\nTus-Resumable: 1.0.0\r\nUpload-Length: %d\r\n\r\n" % SIZE)
        upload_url = wire.reply().headers["location"].replace("http://h", service.url)
    upload_id = upload_url.rsplit("/", 1)[1]
    head = b"PATCH /files/%s HTTP/1.1\r\nHost: h\r\nTus-Resumable: 1.0.0\r\n" % upload_id.encode()
    head += b"Content-Type: application/offset+octet-stream\r\n"
    with Wire(service.host, service.port) as wire:
        wire.send(head + b"Upload-Offset: 0\r\nContent-Length: %d\r\n\r\n" % (1 << 20) + data[:1 << 20])
        assert wire.reply().headers["upload-offset"] == str(1 << 20)
    partial = service.storage / "partials" / f"{upload_id}.data"
    with Wire(service.host, service.port) as wire:
        wire.send(head + b"Upload-Offset: %d\r\nContent-Length: %d\r\n\r\n" % (1 << 20, 2 << 20))
        wire.send(data[1 << 20:(5 << 20) // 2])  # 1.5 MiB of the 2 MiB chunk
        deadline = time.monotonic() + 10
        while partial.stat().st_size < 2 << 20:  # the store wrote some of it
            assert time.monotonic() < deadline, partial.stat().st_size
            time.sleep(0.01)
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(10)
    restarted = start_service(service.storage, tmp_path / "restarted.log", "--port", "0")
    try:
        assert server_offset(f"{restarted.url}/files/{upload_id}") == 1 << 20
        upload_url = f"{restarted.url}/files/{upload_id}"
        uploader = tus.TusClient(restarted.url + "/files/").uploader(str(original), url=upload_url,
                                                                     chunk_size=4 * CHUNK)
        assert uploader.offset == 1 << 20
        uploader.upload()
        assert downloaded_sha256(f"{restarted.url}/files/{upload_id}") == sha256_of(original)
        assert "reading %d bytes back" % SIZE in restarted.log()  # the running hash died with the process
    finally:
        assert restarted.stop() == 0


def test_two_patches_at_once_across_workers_get_423(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    with Wire(service.host, service.port) as wire:
        wire.send(b"POST /files/ HTTP/1.1\r\nHost: h\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\n\r\n")
        upload_id = wire.reply().headers["location"].rsplit("/", 1)[1]
    patch = (b"PATCH /files/%s HTTP/1.1\r\nHost: h\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
             b"Content-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n" % upload_id.encode())
    with Wire(service.host, service.port) as first:
        first.send(patch + b"01234")
        inode = (service.storage / "partials" / f"{upload_id}.data").stat().st_ino

        def first_holds_it() -> bool:  # seen in the kernel's table of locks, without taking one
            return any(line.split()[1] == "FLOCK" and line.split()[5].endswith(f":{inode}")
                       for line in Path("/proc/locks").read_text().splitlines())

        wait_until(first_holds_it, 10, "the worker that took the first PATCH holds the upload's lock")
        for _ in range(8):  # new connections: some reach the other worker
            with Wire(service.host, service.port) as second:
                second.send(patch + b"XXXXXXXXXX")
                assert second.reply().status == 423
        first.send(b"56789")
        reply = first.reply()
    assert (reply.status, reply.headers["upload-offset"]) == (204, "10")
    with Wire(service.host, service.port) as wire:
        wire.send(b"GET /files/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())
        download = wire.reply().json()["linkfordownload"]
    assert isinstance(download, str)
    with Wire(service.host, service.port) as wire:
        wire.send(b"GET /download/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())
        assert wire.reply().body == b"0123456789"


def test_expired_partial_uploads_are_removed_at_start_up(make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    store = FileSystemStore(storage)
    store.prepare()
    expired, fresh = "a" * 26, "b" * 26
    asyncio.run(store.create_partial(expired, 10, time.time() - 1, {}))
    asyncio.run(store.create_partial(fresh, 10, time.time() + 3600, {}))
    make_service("--resumable-ttl", "1h", storage=storage)
    deadline = time.monotonic() + 10
    while (storage / "partials" / f"{expired}.data").exists():
        assert time.monotonic() < deadline, "the janitor did not run at start-up"
        time.sleep(0.02)
    assert sorted(p.name for p in (storage / "partials").iterdir()) == [f"{fresh}.data", f"{fresh}.info"]
