"""Real HTTP clients against the real process: curl (-T upload with
Expect: 100-continue, --limit-rate, -C - resume), wget -c, aria2c resume and
requests. tests/run.sh installs curl, wget and aria2 when they are missing
and it runs as root; a test is skipped only when its binary is still absent.

Downloads are made slow with the service's --download-rate so they can be
interrupted part-way; every resumed file is compared by SHA-256, and the
access log must show the resuming request answered with 206."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import data_files

pytestmark = pytest.mark.e2e

RATE = "256K"
SIZE = 512 * 1024  # about 1.8 s at 256 KiB/s after the 64 KiB burst


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (tests/run.sh installs it with apt-get when run as root)")
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(*command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def stored_files(service: Service) -> list[Path]:
    return data_files(service.storage)


def access_lines(service: Service, containing: str) -> list[str]:
    return [line for line in service.log().splitlines() if "uds.access" in line and containing in line]


def interrupt_when_partial(command: list[str], partial: Path, at_least: int) -> None:
    """Start a client, stop it (SIGTERM) once ``partial`` holds at least
    ``at_least`` bytes, wait for it to exit."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (partial.exists() and partial.stat().st_size >= at_least):
            assert proc.poll() is None, f"{command[0]} exited with {proc.returncode} before being interrupted"
            assert time.monotonic() < deadline, f"{command[0]} made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def slow_file(make_service: ServiceFactory) -> tuple[Service, bytes, str, str]:
    service = make_service("--download-rate", RATE)
    data = os.urandom(SIZE)
    body = service.upload(data, "resume.bin")
    return service, data, str(body["id"]), str(body["linkfordownload"])


def assert_resumed(service: Service, file_id: str, resumed: Path, data: bytes) -> None:
    assert sha256(resumed.read_bytes()) == sha256(data)
    deadline = time.monotonic() + 5  # the access line is written just after the last byte is sent
    while True:
        statuses = [int(m.group(1)) for m in (re.search(r'HTTP/1\.[01]" (\d{3}) ', line)
                                              for line in access_lines(service, file_id)) if m]
        if 206 in statuses or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 206 in statuses, f"no ranged request reached the service: {statuses}"


# -- curl -----------------------------------------------------------------------------


def test_curl_upload_with_T_uses_100_continue_and_round_trips(service: Service, tmp_path: Path) -> None:
    curl = need("curl")
    source = tmp_path / "big file.bin"
    data = os.urandom(3 << 20)  # curl sends Expect: 100-continue above 1 MiB
    source.write_bytes(data)
    result = run(curl, "-sS", "-v", "-T", str(source), service.url + "/upload/")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == 201 and body["fileisuploaded"] == "big file.bin" and body["sha256"] == sha256(data)
    assert "> Expect: 100-continue" in result.stderr
    assert "< HTTP/1.1 100 Continue" in result.stderr
    download = run(curl, "-sS", "-o", str(tmp_path / "copy"), "-w", "%{http_code}", str(body["linkfordownload"]))
    assert download.stdout == "200" and sha256((tmp_path / "copy").read_bytes()) == sha256(data)


def test_curl_upload_over_the_limit_gets_413_without_100_continue(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    curl = need("curl")
    service = make_service("--max-upload-size", "1M")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    result = run(curl, "-sS", "-v", "-T", str(source), service.url + "/upload/")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == 413
    assert "> Expect: 100-continue" in result.stderr and "100 Continue" not in result.stderr.split("> Expect")[1]
    assert "< HTTP/1.1 413 " in result.stderr
    assert stored_files(service) == []


def test_curl_upload_over_the_limit_without_expect_still_reads_its_413(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    """Without Expect curl pushes the whole body; the service answers 413
    at once and must not reset the connection under it (that reset used to
    cost curl the answer about one time in five)."""
    curl = need("curl")
    service = make_service("--max-upload-size", "1M")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(8 << 20))
    for _ in range(10):
        result = run(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-T", str(source),
                     service.url + "/upload/")
        assert (result.returncode, result.stdout) == (0, "413"), result.stderr
    assert stored_files(service) == []


def test_curl_limit_rate_download(service: Service, tmp_path: Path) -> None:
    curl = need("curl")
    data = os.urandom(300_000)
    url = str(service.upload(data, "limited.bin")["linkfordownload"])
    target = tmp_path / "limited.bin"
    result = run(curl, "-sS", "--limit-rate", "500K", "-o", str(target), "-w", "%{http_code}", url)
    assert result.stdout == "200" and sha256(target.read_bytes()) == sha256(data)


def test_curl_resumes_an_interrupted_download_with_C(make_service: ServiceFactory, tmp_path: Path) -> None:
    curl = need("curl")
    service, data, file_id, url = slow_file(make_service)
    target = tmp_path / "resume.bin"
    interrupt_when_partial([curl, "-sS", "-o", str(target), url], target, 100_000)
    assert 0 < target.stat().st_size < len(data)
    result = run(curl, "-sS", "-C", "-", "-o", str(target), "-w", "%{http_code}", url)
    assert result.returncode == 0 and result.stdout == "206", result.stderr
    assert_resumed(service, file_id, target, data)


# -- wget -----------------------------------------------------------------------------


def test_wget_resumes_an_interrupted_download_with_c(make_service: ServiceFactory, tmp_path: Path) -> None:
    wget = need("wget")
    service, data, file_id, url = slow_file(make_service)
    target = tmp_path / "resume.bin"
    interrupt_when_partial([wget, "-q", "-O", str(target), url], target, 100_000)
    assert 0 < target.stat().st_size < len(data)
    result = run(wget, "-q", "-c", "-O", str(target), url)
    assert result.returncode == 0, result.stderr
    assert_resumed(service, file_id, target, data)


def test_wget_downloads_and_reads_the_name_from_content_disposition(service: Service, tmp_path: Path) -> None:
    wget = need("wget")
    data = os.urandom(70_000)
    url = str(service.upload(data, "report.pdf")["linkfordownload"])
    result = run(wget, "-q", "--content-disposition", "-P", str(tmp_path), url)
    assert result.returncode == 0, result.stderr
    assert sha256((tmp_path / "report.pdf").read_bytes()) == sha256(data)


# -- aria2c ---------------------------------------------------------------------------


def test_aria2c_resumes_an_interrupted_download(make_service: ServiceFactory, tmp_path: Path) -> None:
    aria2c = need("aria2c")
    service, data, file_id, url = slow_file(make_service)
    target = tmp_path / "resume.bin"
    # --disk-cache=0: otherwise aria2c holds the bytes in memory and writes
    # the file only when complete, leaving nothing to resume.
    command = [aria2c, "--quiet", "--split=1", "--max-connection-per-server=1", "--file-allocation=none",
               "--disk-cache=0", "--allow-overwrite=false", "--auto-file-renaming=false", f"--dir={tmp_path}",
               "--out=resume.bin", url]
    interrupt_when_partial(command, target, 100_000)
    control = tmp_path / "resume.bin.aria2"
    assert control.exists(), "aria2c left no control file to resume from"
    assert 0 < target.stat().st_size < len(data)
    result = run(*command[:1], "--continue=true", *command[1:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert not control.exists()
    assert_resumed(service, file_id, target, data)


# -- requests -------------------------------------------------------------------------


def test_requests_streamed_download_resumed_with_range_and_if_range(service: Service) -> None:
    data = os.urandom(400_000)
    body = service.upload(data, "r.bin")
    url, etag = str(body["linkfordownload"]), f'"{body["sha256"]}"'
    with requests.get(url, stream=True, timeout=10) as first:
        assert first.status_code == 200 and first.headers["ETag"] == etag
        received = first.raw.read(123_457)
    assert len(received) == 123_457
    rest = requests.get(url, timeout=10, headers={"Range": f"bytes={len(received)}-", "If-Range": etag})
    assert rest.status_code == 206
    assert rest.headers["Content-Range"] == f"bytes {len(received)}-{len(data) - 1}/{len(data)}"
    assert received + rest.content == data


def test_requests_session_reuses_one_connection_for_upload_check_download(service: Service) -> None:
    data = os.urandom(50_000)
    with requests.Session() as session:
        upload = session.post(service.url + "/upload/", data=data, timeout=10,
                              headers={"Content-Disposition": 'attachment; filename="s.bin"'})
        assert upload.status_code == 201
        file_id = upload.json()["id"]
        assert session.get(f"{service.url}/check/{file_id}", timeout=10).json()["size"] == len(data)
        assert session.get(f"{service.url}/download/{file_id}", timeout=10).content == data
    deadline = time.monotonic() + 5  # each access line is written just after its response
    while len(lines := access_lines(service, "HTTP/1.1")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines) == 3, lines
    ports = {line.split(" uds.access: ", 1)[1].split()[0] for line in lines}  # the peer, after the prefix
    assert len(ports) == 1, f"requests opened several connections: {ports}"
