"""The published API end to end, against the real process."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.e2e.conftest import ROOT, Service, ServiceFactory, read_all, start_service
from tests.e2e.faults import data_files

pytestmark = pytest.mark.e2e


def test_seed_flow_upload_check_download(service: Service) -> None:
    data = os.urandom(300_000)
    response = requests.post(service.url + "/upload/", data=data, timeout=10, headers={
        "Content-Disposition": 'attachment; filename="x.pdf"',
        "Content-Type": "application/pdf",
    })
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    file_id = body["id"]
    assert body["status"] == 201 and body["fileisuploaded"] == "x.pdf"
    assert body["linkforcheck"] == f"{service.url}/check/{file_id}"
    assert body["linkfordownload"] == f"{service.url}/download/{file_id}"
    assert response.headers["Location"] == body["linkfordownload"]
    assert body["size"] == len(data) and body["sha256"] == hashlib.sha256(data).hexdigest()

    check = requests.get(body["linkforcheck"], timeout=10)
    assert check.status_code == 200
    info = check.json()
    assert info["status"] == 200 and info["file"] == "x.pdf" and info["message"] == "is ready to download"
    assert info["size"] == len(data) and info["sha256"] == body["sha256"]
    assert info["created"].endswith("Z")

    download = requests.get(body["linkfordownload"], timeout=10)
    assert download.status_code == 200
    assert download.content == data
    headers = download.headers
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(len(data))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["ETag"] == f'"{body["sha256"]}"'
    assert headers["Content-Disposition"] == "attachment; filename=\"x.pdf\"; filename*=UTF-8''x.pdf"
    assert headers["Accept-Ranges"] == "bytes"

    head = requests.head(body["linkfordownload"], timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data)) and head.content == b""
    service.wait_for_log(f'"HEAD /download/{file_id} HTTP/1.1" 200 0')  # access lines are written in batches


def test_two_uploads_of_the_same_name_get_different_links(service: Service) -> None:
    a = service.upload(b"first", "same.txt")
    b = service.upload(b"second", "same.txt")
    assert a["linkfordownload"] != b["linkfordownload"]
    assert requests.get(str(a["linkfordownload"]), timeout=5).content == b"first"
    assert requests.get(str(b["linkfordownload"]), timeout=5).content == b"second"


def test_curl_style_put_and_post_with_a_name_in_the_path(service: Service) -> None:
    put = requests.put(service.url + "/upload/report%20final.pdf", data=b"%PDF-1.4", timeout=5)
    assert put.status_code == 201 and put.json()["fileisuploaded"] == "report final.pdf"
    post = requests.post(service.url + "/upload/other.txt", data=b"text", timeout=5)
    assert post.status_code == 201 and post.json()["fileisuploaded"] == "other.txt"


def test_name_is_generated_without_a_disposition(service: Service) -> None:
    response = requests.post(service.url + "/upload/", data=b"\x89PNG", timeout=5,
                             headers={"Content-Type": "image/png"})
    body = response.json()
    assert response.status_code == 201 and body["fileisuploaded"] == f"{body['id']}.png"


def test_unicode_names_round_trip_safely(service: Service) -> None:
    response = requests.post(service.url + "/upload/", data=b"x", timeout=5, headers={
        "Content-Disposition": "attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E6%96%87%E4%BB%B6%22.txt",
    })
    body = response.json()
    assert body["fileisuploaded"] == '文件".txt'
    download = requests.get(body["linkfordownload"], timeout=5)
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"___.txt\"; filename*=UTF-8''%E6%96%87%E4%BB%B6%22.txt")


def test_stored_html_is_never_served_as_html(service: Service) -> None:
    body = service.upload(b"<script>alert(1)</script>", "evil.html", **{"Content-Type": "text/html"})
    download = requests.get(str(body["linkfordownload"]), timeout=5)
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_ids_are_404_json(service: Service) -> None:
    for kind in ("check", "download"):
        response = requests.get(f"{service.url}/{kind}/aaaaaaaaaaaaaaaaaaaaaaaaaa", timeout=5)
        assert response.status_code == 404
        assert response.json() == {"status": 404, "file": "aaaaaaaaaaaaaaaaaaaaaaaaaa", "message": "is not found"}


def test_unknown_path_and_wrong_method(service: Service) -> None:
    response = requests.get(service.url + "/nothing", timeout=5)
    assert response.status_code == 404 and response.json()["status"] == 404
    response = requests.delete(service.url + "/check/aaaaaaaaaaaaaaaaaaaaaaaaaa", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"
    assert response.json()["status"] == 405
    response = requests.get(service.url + "/upload/", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "POST, PUT"


@pytest.mark.parametrize("target", [
    "/check/../../../../etc/passwd",
    "/download/..%2F..%2F..%2Fetc%2Fpasswd",
    "/download/%2e%2e%2fobjects",
    "/download/../objects",
    "/check/%00",
    "/download/aaaaaaaaaaaaaaaaaaaaaaaaa%00",
    "/download/AAAAAAAAAAAAAAAAAAAAAAAAAA",
    "/download/aaaaaaaaaaaaaaaaaaaaaaaaaa/..",
    "/download/objects",
    "/download/tmp",
    "/download/",
])
def test_traversal_attempts_are_404_before_touching_the_disk(service: Service, target: str) -> None:
    raw = service.raw(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 404 "), raw[:200]
    assert b"root:" not in raw


def test_the_storage_directory_holds_only_blobs(service: Service) -> None:
    service.upload(b"abc", "../../escape.txt")
    service.upload(b"abc", "/etc/cron.d/evil")
    names = {p.name for p in data_files(service.storage)}
    assert all(len(n) == 26 for n in names) and len(names) == 2
    assert not (service.storage.parent / "escape.txt").exists()


def test_chunked_upload(service: Service) -> None:
    parts = [os.urandom(n) for n in (1, 1000, 70_000, 3, 250_000)]

    def body() -> Iterator[bytes]:
        yield from parts

    response = requests.post(service.url + "/upload/", data=body(), timeout=10,
                             headers={"Content-Disposition": 'attachment; filename="c.bin"'})
    assert response.status_code == 201
    assert requests.get(response.json()["linkfordownload"], timeout=10).content == b"".join(parts)


def test_keep_alive_and_pipelining(service: Service) -> None:
    file_id = service.upload(b"pipelined", "p.txt")["id"]
    request = f"GET /check/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection((service.host, service.port), timeout=5) as sock:
        sock.sendall(request)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(request * 3 + f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        rest = read_all(sock, 5)
    assert rest.count(b"HTTP/1.1 200 OK") == 4
    assert rest.endswith(b"pipelined")
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(f"{service.url}/check/{file_id}", timeout=5).status_code == 200


def test_http_1_0_client_gets_correct_framing(service: Service) -> None:
    file_id = service.upload(b"old client", "o.txt")["id"]
    raw = service.raw(f"GET /download/{file_id} HTTP/1.0\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 10\r\n" in raw and raw.endswith(b"old client")
    assert b"Connection: close" in raw


def test_declared_size_over_the_limit_is_413_before_the_body(make_service: ServiceFactory) -> None:
    service = make_service("--max-upload-size", "1K")
    raw = service.raw(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in raw
    assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["status"] == 413
    response = requests.post(service.url + "/upload/", data=iter([b"x" * 600, b"y" * 600]), timeout=5)
    assert response.status_code == 413
    assert requests.post(service.url + "/upload/", data=b"z" * 1024, timeout=5).status_code == 201
    assert len(data_files(service.storage)) == 1


def test_length_required_and_empty_upload(service: Service) -> None:
    raw = service.raw(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 411 ")
    response = requests.post(service.url + "/upload/", data=b"", timeout=5)
    assert response.status_code == 400 and response.json()["status"] == 400


def test_forty_concurrent_uploads_are_all_intact(service: Service) -> None:
    blobs = [os.urandom(1000 * i + 1) for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda data: service.upload(data, "c.bin"), blobs))
    assert len({r["id"] for r in results}) == 40
    with ThreadPoolExecutor(10) as pool:
        downloads = list(pool.map(lambda r: requests.get(str(r["linkfordownload"]), timeout=10).content, results))
    assert downloads == blobs


def test_every_finished_file_survives_kill_9(make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "kept"
    service = make_service(storage=storage)
    blobs = {str(service.upload(os.urandom(5000 + i), f"k{i}")["id"]): i for i in range(10)}
    service.proc.kill()
    service.proc.wait()
    again = make_service(storage=storage)
    for file_id in blobs:
        assert requests.get(f"{again.url}/check/{file_id}", timeout=5).status_code == 200
        content = requests.get(f"{again.url}/download/{file_id}", timeout=5).content
        assert len(content) == 5000 + blobs[file_id]


def test_ranges_etags_and_conditional_requests(service: Service) -> None:
    data = bytes(range(256)) * 40
    body = service.upload(data, "r.bin")
    url, etag = str(body["linkfordownload"]), f'"{body["sha256"]}"'
    partial = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=5)
    assert partial.status_code == 206 and partial.content == data[100:200]
    assert partial.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert requests.get(url, headers={"Range": "bytes=-10"}, timeout=5).content == data[-10:]
    unsatisfiable = requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=5)
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["Content-Range"] == f"bytes */{len(data)}"
    assert requests.get(url, headers={"Range": "bytes=0-1,5-6"}, timeout=5).content == data
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
    stale = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'}, timeout=5)
    assert stale.status_code == 200 and stale.content == data
    fresh = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=5)
    assert fresh.status_code == 206 and fresh.content == data[:10]


def test_bad_request_line_gets_json_and_the_server_keeps_serving(service: Service) -> None:
    raw = service.raw(b"NOT HTTP AT ALL\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ") and b'"status": 400' in raw
    assert requests.get(service.url + "/healthz", timeout=5).status_code == 200


def test_sigterm_exits_zero(make_service: ServiceFactory) -> None:
    service = make_service()
    assert service.stop(signal.SIGTERM) == 0
    assert "stopped" in service.log()


def test_sigterm_closes_idle_keep_alive_connections_at_once(make_service: ServiceFactory) -> None:
    # A client (browser, connection pool) holding a connection between requests must not hold up the
    # shutdown: a container engine kills the service (exit 137) when stopping takes longer than its grace.
    service = make_service("--keepalive-timeout", "60", "--shutdown-timeout", "5")
    with socket.create_connection((service.host, service.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert service.stop(signal.SIGTERM) == 0
        answer += read_all(sock, 5)  # to the end: the server closed the connection
    assert answer.endswith(b'"ok"}\n')
    assert "1 connection(s), 0 busy" in service.log() and "shutdown timeout" not in service.log()


def test_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--download-rate", "fast"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--download-rate" in result.stderr


def test_unusable_storage_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    service = start_service(blocker / "store", tmp_path / "log", wait=False)
    assert service.proc.wait(30) == 1
    assert "not usable" in service.log() and service.log().count("\n") == 1


def test_public_url_overrides_the_host_header(make_service: ServiceFactory) -> None:
    service = make_service("--public-url", "https://files.example.com/")
    body = service.upload(b"x", "a.txt")
    assert str(body["linkforcheck"]).startswith("https://files.example.com/check/")


def test_startup_removes_leftover_partial_uploads(make_service: ServiceFactory, tmp_path: Path) -> None:
    storage = tmp_path / "leftovers"
    (storage / "tmp").mkdir(parents=True)
    (storage / "tmp" / "abc.0000.part").write_bytes(b"half")
    service = make_service(storage=storage)
    assert list((storage / "tmp").iterdir()) == []
    assert "1 leftover" in service.log()
    time.sleep(0)  # the service is up; the fixture stops it


def test_start_up_lines_show_at_any_log_level(make_service: ServiceFactory) -> None:
    service = make_service("--log-level", "error")  # the fixture waits for "listening on"
    assert "storage " in service.log() and "limits: " in service.log()
    requests.get(service.url + "/healthz", timeout=5)
    assert service.stop() == 0  # a stop flushes any batched access lines
    assert "uds.access" not in service.log() and "stopped" in service.log()


def test_small_downloads_on_a_keep_alive_connection_do_not_wait_for_a_delayed_ack(service: Service) -> None:
    # Linux's sendfile queues a body as "more to come"; without a push, a
    # small file's bytes wait for the client's delayed ACK: at least 40 ms a
    # download (measured 42 ms each before the push, 0.6 ms after).
    created = service.upload(os.urandom(70), name="small.bin")
    durations = []
    with requests.Session() as session:
        for _ in range(15):
            began = time.perf_counter()
            response = session.get(f"{service.url}/download/{created['id']}", timeout=5)
            durations.append(time.perf_counter() - began)
            assert response.status_code == 200 and len(response.content) == 70
    durations.sort()
    assert durations[len(durations) // 2] < 0.025, f"median {durations[len(durations) // 2] * 1000:.1f} ms"


def test_healthz_is_503_when_the_storage_cannot_take_an_upload(make_service: ServiceFactory) -> None:
    healthy = make_service()
    assert requests.get(healthy.url + "/healthz", timeout=5).json() == {"status": 200, "message": "ok"}
    starved = make_service("--min-free-space", "1000T")  # a floor no disk here reaches
    answer = requests.get(starved.url + "/healthz", timeout=5)
    assert answer.status_code == 503 and "below the floor" in answer.json()["message"]
    assert answer.headers["Retry-After"] == "30"
