"""Clients and abuse control on the real process, with real clients: a
spoofed X-Forwarded-For from an untrusted peer vs a trusted proxy (curl),
requests per minute, connections per address, per-client download rate
against aria2c's parallel connections, upload tokens. The arithmetic is
proven in virtual time (tests/http/test_clients_inproc.py,
tests/unit/test_throttle.py); here, generous tolerances."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from adapters.throttle import default_burst
from tests.e2e.conftest import Service, ServiceFactory, read_all
from tests.e2e.faults import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "k7Qx-9vVn2_LrT8mZp4wYb"


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names) and body of one curl request."""
    curl_path = shutil.which("curl")
    if curl_path is None:
        pytest.skip("curl is not installed")
    done = subprocess.run([curl_path, "-s", "-i", *args], capture_output=True, text=True, timeout=30)
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, body = body.partition("\n\n")
    lines = head.split("\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def access_lines(service: Service) -> list[str]:
    return [line for line in service.log().splitlines() if "uds.access" in line]


SPOOF = ["-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: evil.example"]


def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service("--requests-per-minute", "3")
    (tmp_path / "x.txt").write_text("hello\n")
    status, _, body = curl("-H", "X-Forwarded-For: 203.0.113.1", *SPOOF, "-T", str(tmp_path / "x.txt"),
                           service.url + "/upload/")
    assert status == 201
    assert json.loads(body)["linkfordownload"].startswith(service.url + "/download/")
    # A new X-Forwarded-For each time is still one client, the socket's: the fourth request is refused.
    statuses = [curl("-H", f"X-Forwarded-For: 203.0.113.{i}", service.url + "/check/x")[0] for i in (2, 3, 4)]
    assert statuses == [404, 404, 429]
    wait_until(lambda: len(access_lines(service)) >= 4, 10, "four access lines")
    lines = access_lines(service)
    assert len(lines) == 4 and all(" uds.access: 127.0.0.1:" in line and " via " not in line for line in lines)


def test_a_trusted_proxy_names_the_client_and_the_links(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service("--requests-per-minute", "1", "--trusted-proxy", "127.0.0.1/32")
    (tmp_path / "x.txt").write_text("hello\n")
    status, headers, body = curl("-H", "X-Forwarded-For: 6.6.6.6, 198.51.100.7", "-H", "X-Forwarded-Proto: https",
                                 "-H", "X-Forwarded-Host: files.example.com", "-T", str(tmp_path / "x.txt"),
                                 service.url + "/upload/")
    assert status == 201
    link = json.loads(body)["linkfordownload"]
    assert link.startswith("https://files.example.com/download/") and headers["location"] == link
    # Each forwarded client has its own budget of one request a minute.
    statuses = [curl("-H", f"X-Forwarded-For: {client}", service.url + "/check/x")[0]
                for client in ("198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.9")]
    assert statuses == [429, 404, 404, 429]
    wait_until(lambda: len(access_lines(service)) >= 5, 10, "five access lines")
    first = access_lines(service)[0]
    assert " uds.access: 198.51.100.7 \"PUT /upload/x.txt HTTP/1.1\" 201 " in first, first
    assert " via 127.0.0.1:" in first, first


def test_requests_per_minute_answers_429_with_retry_after(make_service: ServiceFactory) -> None:
    service = make_service("--requests-per-minute", "2")
    answers = [curl(service.url + "/check/x") for _ in range(3)]
    assert [status for status, _, _ in answers] == [404, 404, 429]
    _, headers, body = answers[2]
    assert headers["retry-after"] == "30" and headers["content-type"] == "application/json"
    assert json.loads(body) == {"status": 429, "message": "too many requests; retry in 30 s"}
    assert curl(service.url + "/healthz")[0] == 200  # health checks never count


def test_max_connections_per_ip_answers_503_to_the_next_connection(make_service: ServiceFactory) -> None:
    service = make_service("--max-connections-per-ip", "2")
    held = [socket.create_connection((service.host, service.port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)
        answer = service.raw(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1\r\n" in answer, answer
        assert b"too many connections from your address" in answer
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert read_all(held[0], 5).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held:
            sock.close()
    # The slots are freed as the server sees the two ends (a few turns of its loop).
    wait_until(lambda: service.raw(b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
               .startswith(b"HTTP/1.1 200 "), 10, "a new connection is let in once the held ones are closed")


def aria2c_seconds(service: Service, link: str, directory: Path) -> float:
    aria2c = shutil.which("aria2c")
    if aria2c is None:
        pytest.skip("aria2c is not installed")
    start = time.monotonic()
    subprocess.run([aria2c, "--quiet", "-x4", "-s4", "-k1M", "--file-allocation=none", "--allow-overwrite=true",
                    "-d", str(directory), link], check=True, timeout=60)
    return time.monotonic() - start


def test_aria2c_with_four_connections_gets_no_more_than_one_connection_would(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    rate = 1 << 20
    data = bytes(range(256)) * (4 * 4096)  # 4 MiB: aria2c splits it in four
    expected = (len(data) - default_burst(rate)) / rate  # one connection at 1 MiB/s: 3.9 s
    # Per-connection limit only: four connections get about four times the rate.
    service = make_service("--download-rate", "1M")
    link = str(service.upload(data, "big.bin")["linkfordownload"])
    fast = aria2c_seconds(service, link, tmp_path / "a")
    assert (tmp_path / "a" / "big.bin").read_bytes() == data
    assert fast < 0.8 * expected, fast  # about 0.25x; aria2c's start and connections take their time too
    # With the same limit per client, the four share one budget.
    service = make_service("--download-rate", "1M", "--client-download-rate", "1M")
    link = str(service.upload(data, "big.bin")["linkfordownload"])
    shared = aria2c_seconds(service, link, tmp_path / "b")
    assert (tmp_path / "b" / "big.bin").read_bytes() == data
    print(f"aria2c -x4, 4 MiB: {fast:.2f} s with --download-rate 1M, {shared:.2f} s with --client-download-rate 1M "
          f"too (one connection: {expected:.2f} s)")
    assert 0.75 * expected <= shared <= 1.6 * expected, (shared, expected)


def test_uploads_need_the_token_and_it_is_never_logged(make_service: ServiceFactory, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# one token a line\n\nfile-token-0123456789abcdef\n")
    service = make_service("--upload-token", TOKEN, "--upload-token-file", str(tokens))
    (tmp_path / "x.txt").write_text("hello\n")
    status, headers, body = curl("-T", str(tmp_path / "x.txt"), service.url + "/upload/")
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="uploads"'
    assert json.loads(body)["status"] == 401
    status, headers, _ = curl("-H", "Authorization: Bearer wrong-token-0123456789", "-T", str(tmp_path / "x.txt"),
                              service.url + "/upload/")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    for token in (TOKEN, "file-token-0123456789abcdef"):
        status, _, body = curl("-H", f"Authorization: Bearer {token}", "-T", str(tmp_path / "x.txt"),
                               service.url + "/upload/")
        assert status == 201
    link = json.loads(body)["linkfordownload"]
    assert curl(link)[0] == 200  # downloads stay link-based
    service.stop()
    log = service.log()
    assert TOKEN not in log and "file-token" not in log
