"""I/O faults in the storage directory: unusable at start-up (one line, exit
code 1), or blobs that vanish or go bad under a running server (404 or 500
with a log line; never a hang, and the server keeps answering)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory, start_service
from tests.e2e.faults import remount_read_only, tmpfs

pytestmark = pytest.mark.e2e


def refuses_to_start(storage: Path, log: Path) -> str:
    """Start on ``storage``, expect exit code 1; the one line it printed."""
    service = start_service(storage, log, wait=False)
    assert service.proc.wait(30) == 1, service.log()
    output = service.log()
    assert output.count("\n") == 1 and "not usable" in output, output
    return output


def test_a_missing_storage_directory_is_created(make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "not" / "yet" / "there"
    service = make_service(storage=storage)
    assert (storage / "objects").is_dir() and (storage / "tmp").is_dir()
    assert requests.get(str(service.upload(b"new home")["linkfordownload"]), timeout=5).content == b"new home"


def test_a_read_only_file_system_is_refused_at_start_up(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m") as disk:
        ready = disk / "ready"
        (ready / "objects").mkdir(parents=True)
        (ready / "tmp").mkdir()
        remount_read_only(disk)
        # Exists with its layout, but nothing can be written: the probe fails.
        assert "Read-only file system" in refuses_to_start(ready, tmp_path / "ready.log")
        # Does not exist and cannot be created.
        assert "Read-only file system" in refuses_to_start(disk / "new", tmp_path / "new.log")


def test_an_immutable_storage_directory_is_refused_at_start_up(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is not installed")
    storage = tmp_path / "immutable"
    storage.mkdir()
    marked = subprocess.run(["chattr", "+i", str(storage)], capture_output=True, text=True, timeout=30)
    if marked.returncode != 0:
        pytest.skip(f"this file system or container does not allow chattr +i: {marked.stderr.strip()}")
    try:
        assert "Operation not permitted" in refuses_to_start(storage, tmp_path / "service.log")
    finally:
        subprocess.run(["chattr", "-i", str(storage)], check=True, timeout=30)


@pytest.fixture
def stored(service: Service) -> Iterator[tuple[Service, str, Path]]:
    """A service with one stored file: (service, id, path of the blob)."""
    file_id = str(service.upload(os.urandom(10_000))["id"])
    yield service, file_id, service.storage / "objects" / file_id[:2] / file_id


def get(service: Service, kind: str, file_id: str) -> requests.Response:
    return requests.get(f"{service.url}/{kind}/{file_id}", timeout=10)


def still_serving(service: Service) -> None:
    assert requests.get(service.url + "/healthz", timeout=10).status_code == 200
    assert service.proc.poll() is None


def test_a_blob_removed_under_the_server_is_404(stored: tuple[Service, str, Path]) -> None:
    service, file_id, path = stored
    path.unlink()
    for kind in ("check", "download"):
        response = get(service, kind, file_id)
        assert response.status_code == 404
        assert response.json() == {"status": 404, "file": file_id, "message": "is not found"}
    still_serving(service)


def break_trailer(path: Path) -> None:
    with open(path, "r+b") as file:
        file.seek(-16, os.SEEK_END)
        file.write(b"\xff" * 16)


def replace_with_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def replace_with_fifo(path: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: on the event
    # loop that would hang the whole server.
    path.unlink()
    os.mkfifo(path)


def cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize("damage", [break_trailer, replace_with_directory, replace_with_fifo, cut_in_half])
def test_a_damaged_blob_is_500_with_a_log_line(stored: tuple[Service, str, Path],
                                               damage: Callable[[Path], None]) -> None:
    service, file_id, path = stored
    damage(path)
    for kind in ("check", "download"):
        response = get(service, kind, file_id)
        assert response.status_code == 500, response.text
        assert response.json() == {"status": 500, "message": "internal server error"}
        assert f"error handling GET /{kind}/{file_id}" in service.log()
    still_serving(service)


def test_a_blob_truncated_during_a_download_ends_the_connection(make_service: ServiceFactory) -> None:
    # A long keep-alive timeout: if the server sent less than it announced and
    # kept the connection, the client would wait for the missing bytes.
    service = make_service("--keepalive-timeout", "120")
    size = 32 << 20
    file_id = str(service.upload(os.urandom(size))["id"])
    path = service.storage / "objects" / file_id[:2] / file_id
    with socket.create_connection((service.host, service.port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = sock.recv(64 * 1024)
        os.truncate(path, 1 << 20)
        while True:  # ends with EOF or a reset; the socket timeout (a hang) fails the test
            try:
                chunk = sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    body = received.split(b"\r\n\r\n", 1)[1]
    assert len(body) < size
    assert "bytes short of its size" in service.log()
    still_serving(service)
