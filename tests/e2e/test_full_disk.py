"""A really full disk (a small tmpfs as storage) and the ``--min-free-space``
floor: the upload that does not fit gets ``507`` JSON and leaves nothing
behind, earlier files stay intact, and the server keeps serving."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.e2e.conftest import Service, read_all, start_service
from tests.e2e.faults import blob_files, tmp_files, tmpfs, wait_until

pytestmark = pytest.mark.e2e

MiB = 1 << 20


def assert_507(response: requests.Response) -> None:
    assert response.status_code == 507, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == 507 and body["message"]


def no_leftovers(service: Service) -> None:
    wait_until(lambda: tmp_files(service.storage) == [], 20, "the failed upload's temporary file is removed")


def pieces(total: int, step: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, step):
        yield os.urandom(min(step, total - start))


def assert_intact(service: Service, kept: dict[str, str]) -> None:
    for file_id, sha in kept.items():
        content = requests.get(f"{service.url}/download/{file_id}", timeout=10).content
        assert hashlib.sha256(content).hexdigest() == sha, f"{file_id} changed"


def test_a_full_disk_answers_507_and_loses_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        service = start_service(disk / "storage", tmp_path / "service.log", "--min-free-space", "0")
        try:
            kept: dict[str, str] = {}
            refused = None
            for _ in range(8):  # 8 x 1.5 MiB cannot fit in 8 MiB
                data = os.urandom(3 * MiB // 2)
                response = requests.post(service.url + "/upload/", data=data, timeout=30)
                if response.status_code != 201:
                    refused = response
                    break
                kept[response.json()["id"]] = hashlib.sha256(data).hexdigest()
            assert refused is not None, "the disk never filled up"
            assert_507(refused)
            assert len(kept) >= 3
            no_leftovers(service)

            # A chunked upload runs into the full disk while streaming.
            assert_507(requests.post(service.url + "/upload/", data=pieces(4 * MiB), timeout=30))
            no_leftovers(service)

            assert len(blob_files(service.storage)) == len(kept)
            assert_intact(service, kept)
            assert requests.get(service.url + "/healthz", timeout=10).status_code == 200
            # The space of the failed uploads was given back: a small file still fits.
            small = requests.post(service.url + "/upload/", data=b"still here", timeout=10)
            assert small.status_code == 201, small.text
            assert requests.get(small.json()["linkfordownload"], timeout=10).content == b"still here"
        finally:
            assert service.stop() == 0, service.log()
    assert "Traceback" not in service.log()


def test_min_free_space_refuses_a_declared_size_before_reading_the_body(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        service = start_service(disk / "storage", tmp_path / "service.log", "--min-free-space", "4M")
        try:
            # 5 MiB would leave less than 4 MiB of 8: refused from Content-Length
            # alone, before 100 Continue, so the client never sends the body.
            with socket.create_connection((service.host, service.port), timeout=10) as sock:
                sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5242880\r\n"
                             b"Expect: 100-continue\r\n\r\n")
                raw = read_all(sock, 10)
            assert raw.startswith(b"HTTP/1.1 507 "), raw[:200]
            assert b"100 Continue" not in raw
            assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["status"] == 507
            assert tmp_files(service.storage) == [] and blob_files(service.storage) == []

            fits = os.urandom(MiB)
            response = requests.post(service.url + "/upload/", data=fits, timeout=10)
            assert response.status_code == 201, response.text
            kept = {response.json()["id"]: hashlib.sha256(fits).hexdigest()}

            # Without a declared size the floor is checked while streaming.
            assert_507(requests.post(service.url + "/upload/", data=pieces(5 * MiB), timeout=30))
            no_leftovers(service)
            assert len(blob_files(service.storage)) == 1
            assert_intact(service, kept)
            assert requests.get(service.url + "/healthz", timeout=10).status_code == 200
        finally:
            assert service.stop() == 0, service.log()
    assert "Traceback" not in service.log()
