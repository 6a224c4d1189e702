"""The link lifecycle on the real process with real clients: the race at the
last allowed download across two workers, interrupted and resumed downloads,
kill -9 mid-download and between "counted" and "deleted", delete links,
expiry seen by curl, the quota, and blobs adopted at start-up."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from adapters.ledger.sqlite import SqliteLedger
from tests.e2e.conftest import Service, ServiceFactory, start_service
from tests.e2e.faults import blob_files, wait_until

pytestmark = pytest.mark.e2e


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (tests/run.sh installs it with apt-get when run as root)")
    return subprocess.run(["curl", "-s", *args], capture_output=True, text=True, timeout=timeout)


def check(service: Service, file_id: str) -> requests.Response:
    return requests.get(f"{service.url}/check/{file_id}", timeout=10)


def full_download(url: str) -> tuple[int, bytes]:
    """Status and body of one GET; a body cut short raises."""
    response = requests.get(url, timeout=60)
    if response.status_code == 200:
        assert len(response.content) == int(response.headers["Content-Length"])
    return response.status_code, response.content


def start_partial(service: Service, file_id: str, read: int) -> socket.socket:
    """A download that has received at least ``read`` bytes and is still going."""
    sock = socket.create_connection((service.host, service.port), timeout=10)
    sock.sendall(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    while len(got) < read:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the download"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200 ")
    return sock


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrent_downloads_across_two_workers_deliver_exactly_the_limit(
        make_service: ServiceFactory, limit: int) -> None:
    # Slow downloads (about 1.5 s each) so that all of them overlap.
    service = make_service("--workers", "2", "--download-rate", "1M")
    data = os.urandom(3 * 1024 * 1024 // 2)
    for _ in range(3):
        answer = service.upload(data, **{"Max-Downloads": str(limit)})
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(full_download, [str(answer["linkfordownload"])] * 10))
        complete = [body for status, body in results if status == 200]
        assert len(complete) == limit and all(body == data for body in complete)
        assert {status for status, _ in results} - {200} <= {404, 503}
        wait_until(lambda: check(service, str(answer["id"])).status_code == 404, 20, "the used-up file is gone")
        wait_until(lambda: blob_files(service.storage) == [], 20, "the used-up file is deleted from the disk")


def test_an_interrupted_download_does_not_count_and_a_resumed_one_counts_once(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service("--download-rate", "256K")
    data = os.urandom(1024 * 1024)
    answer = service.upload(data, **{"Max-Downloads": "2"})
    file_id, url = str(answer["id"]), str(answer["linkfordownload"])
    start_partial(service, file_id, 200_000).close()  # interrupted
    wait_until(lambda: requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code == 206, 20,
               "the file still serves")
    assert check(service, file_id).json()["downloads_left"] == 2
    part = tmp_path / "part.bin"
    assert curl("-r", "0-299999", "-o", str(part), url).returncode == 0  # a range short of the end: not counted
    assert part.stat().st_size == 300_000 and check(service, file_id).json()["downloads_left"] == 2
    resumed = curl("-C", "-", "-o", str(part), "-w", "%{http_code}", url)  # curl asks for bytes=300000-
    assert resumed.stdout == "206" and part.read_bytes() == data
    assert check(service, file_id).json()["downloads_left"] == 1
    assert full_download(url) == (200, data)
    assert check(service, file_id).status_code == 404
    wait_until(lambda: blob_files(service.storage) == [], 20, "the used-up file is deleted from the disk")


def test_kill_9_mid_download_then_restart_frees_the_slot_at_once(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    service = start_service(storage, tmp_path / "before.log", "--download-rate", "100K")
    try:
        data = os.urandom(1024 * 1024)
        file_id = str(service.upload(data, **{"Max-Downloads": "1"})["id"])
        sock = start_partial(service, file_id, 100_000)
        assert requests.get(f"{service.url}/download/{file_id}", timeout=10).status_code == 503  # slot held
        service.proc.kill()
        service.proc.wait(10)
        sock.close()
    finally:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()
    restarted = start_service(storage, tmp_path / "after.log")
    try:
        assert "1 download reservation(s) of an earlier run freed" in restarted.log()
        assert check(restarted, file_id).json()["downloads_left"] == 1
        assert full_download(f"{restarted.url}/download/{file_id}") == (200, data)
        assert check(restarted, file_id).status_code == 404
        wait_until(lambda: blob_files(storage) == [], 20, "the used-up file is deleted from the disk")
    finally:
        assert restarted.stop() == 0, restarted.log()


def test_a_crash_between_counting_the_last_download_and_deleting_it(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "kept"
    service = make_service(storage=storage)
    file_id = str(service.upload(b"once", **{"Max-Downloads": "1"})["id"])
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    # What a worker killed right after counting the last download leaves:
    # the record counted (and expired), the blob still on the disk.
    ledger = SqliteLedger(storage / "ledger.sqlite3")

    async def counted() -> None:
        reservation = await ledger.reserve_download(file_id, time.time(), 30)
        assert reservation is not None and await ledger.complete_download(reservation, time.time()) == 0

    asyncio.run(counted())
    ledger.close()
    assert len(blob_files(storage)) == 1
    restarted = make_service("--janitor-interval", "1", storage=storage)
    assert check(restarted, file_id).status_code == 404  # never serves again
    assert requests.get(f"{restarted.url}/download/{file_id}", timeout=10).status_code == 404
    wait_until(lambda: blob_files(storage) == [], 20, "the janitor deletes the blob")
    restarted.wait_for_log("janitor: removed 1 expired")


def test_delete_with_the_right_wrong_and_missing_token(service: Service) -> None:
    answer = service.upload(b"delete me")
    file_id, token = str(answer["id"]), str(answer["deletetoken"])
    url = f"{service.url}/download/{file_id}"
    status = ["-o", "/dev/null", "-w", "%{http_code}"]
    assert curl("-X", "DELETE", *status, url).stdout == "401"
    assert curl("-X", "DELETE", "-H", "X-Delete-Token: " + token[::-1], *status, url).stdout == "403"
    assert curl(*status, str(answer["linkfordelete"])).stdout == "405"  # a GET of the link deletes nothing
    assert check(service, file_id).status_code == 200
    assert curl("-X", "DELETE", "-H", "X-Delete-Token: " + token, *status, url).stdout == "204"
    assert check(service, file_id).status_code == 404 and blob_files(service.storage) == []
    other = service.upload(b"and me")
    assert curl("-X", "DELETE", *status, str(other["linkfordelete"])).stdout == "204"
    assert curl("-X", "DELETE", *status, str(other["linkfordelete"])).stdout == "404"
    assert blob_files(service.storage) == []


def test_expiry_with_a_short_default_ttl_seen_by_curl(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service("--default-ttl", "2s", "--janitor-interval", "1")
    (tmp_path / "x.txt").write_bytes(b"brief")
    started = time.time()
    uploaded = curl("-T", str(tmp_path / "x.txt"), f"{service.url}/upload/")
    done = time.time()  # the file was created before this
    link = uploaded.stdout.split('"linkforcheck": "')[1].split('"')[0]
    status = ["-o", "/dev/null", "-w", "%{http_code}"]
    if time.time() - started < 1.5:  # else the machine is too slow to see it alive; the rest still holds
        assert curl(*status, link).stdout == "200"
    time.sleep(max(0.0, done + 2.5 - time.time()))  # created (rounded down) + 2 s has passed, surely
    assert curl(*status, link).stdout == "404"
    assert curl(*status, link.replace("/check/", "/download/")).stdout == "404"
    wait_until(lambda: blob_files(service.storage) == [], 20, "the janitor deletes the expired file")


def test_the_storage_quota_with_curl(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service("--max-storage", "1K")
    (tmp_path / "a").write_bytes(b"a" * 600)
    status = ["-o", "/dev/null", "-w", "%{http_code}"]
    assert curl("-T", str(tmp_path / "a"), *status, f"{service.url}/upload/").stdout == "201"
    assert curl("-T", str(tmp_path / "a"), *status, f"{service.url}/upload/").stdout == "507"
    assert len(blob_files(service.storage)) == 1


def test_blobs_of_a_storage_without_a_ledger_are_adopted(make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "old"
    service = make_service(storage=storage)
    data = os.urandom(5000)
    url = str(service.upload(data)["linkfordownload"])
    assert service.stop() == 0
    for leftover in storage.glob("ledger.sqlite3*"):  # as a version before the ledger left it
        leftover.unlink()
    again = make_service(storage=storage)
    assert "1 blob(s) without a record adopted" in again.log()
    assert requests.get(url.replace(service.url, again.url), timeout=10).content == data
    assert hashlib.sha256(data).hexdigest() == check(again, url.rsplit("/", 1)[1]).json()["sha256"]
