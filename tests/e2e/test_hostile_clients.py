"""Broken and hostile clients against the real process: they may lose their
own request, never the server's health. After each, nothing half-uploaded
remains, descriptors and memory come back, the log has no traceback, and a
normal request still gets its answer."""

from __future__ import annotations

import json
import os
import re
import resource
import select
import socket
import struct
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests

from adapters.ids import RandomIds
from adapters.storage.filesystem import MAGIC, TRAILER
from domain.model import StoredFile
from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import add_record, blob_files, descriptor_targets, open_sockets, rss_bytes, tmp_files, wait_until
from tests.e2e.wire import one_exchange

pytestmark = pytest.mark.e2e

MiB = 1 << 20


def connect(service: Service, timeout: float = 10) -> socket.socket:
    return socket.create_connection((service.host, service.port), timeout=timeout)


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (the peer vanished)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the server closes; a socket timeout (the server kept
    the connection) fails the test."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def healthy(service: Service) -> None:
    assert requests.get(service.url + "/healthz", timeout=10).status_code == 200
    assert "Traceback" not in service.log(), service.log()[-3000:]


def plant_sparse_blob(storage: Path, size: int) -> str:
    """A committed blob of ``size`` zero bytes that takes no disk space (the
    data is a hole), written in the store's own format. Returns its id."""
    file_id = RandomIds().new_id()
    stored = StoredFile(file_id, "big.bin", size, "application/octet-stream", "0" * 64,
                        datetime(2026, 1, 1, tzinfo=timezone.utc))
    meta = json.dumps(stored.to_metadata()).encode()
    path = storage / "objects" / file_id[:2] / file_id
    path.parent.mkdir(exist_ok=True)
    with open(path, "wb") as file:
        file.truncate(size)
        file.seek(size)
        file.write(meta + TRAILER.pack(MAGIC, len(meta)))
    add_record(storage, file_id, size)
    return file_id


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_disconnect_mid_upload_stores_nothing(make_service: ServiceFactory, framing: str) -> None:
    service = make_service()
    head = b"POST /upload/ HTTP/1.1\r\nHost: x\r\n" + (
        b"Content-Length: 52428800\r\n\r\n" if framing == "length" else b"Transfer-Encoding: chunked\r\n\r\n")
    piece = os.urandom(64 * 1024)
    if framing == "chunked":
        piece = b"10000\r\n" + piece + b"\r\n"
    for vanish in (socket.socket.close, reset):
        sock = connect(service)
        sock.sendall(head)
        for _ in range(40):  # 2.5 MiB: past the store's first 1 MiB block
            sock.sendall(piece)
        wait_until(lambda: len(tmp_files(service.storage)) == 1, 10, "the upload is being written to tmp/")
        vanish(sock)
        wait_until(lambda: tmp_files(service.storage) == [], 20, "the partial upload is removed from tmp/")
    assert blob_files(service.storage) == []
    healthy(service)


def test_disconnect_mid_download_leaves_no_descriptor_and_no_traceback(make_service: ServiceFactory) -> None:
    service = make_service()
    sockets = open_sockets(service.proc.pid)
    file_id = plant_sparse_blob(service.storage, 64 * MiB)
    blob = str(service.storage / "objects" / file_id[:2] / file_id)
    asks = [
        f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n\r\n",
        f"HEAD /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n" f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for n in range(30):
        sock = connect(service)
        sock.sendall(asks[n % 3].encode())
        if n % 5:  # else: gone right after asking, before the answer starts
            sock.recv(1 + 5000 * (n % 4))
        (reset if n % 2 else socket.socket.close)(sock)
    wait_until(lambda: blob not in descriptor_targets(service.proc.pid), 10, "every reader of the blob is closed")
    wait_until(lambda: open_sockets(service.proc.pid) == sockets, 10,
               f"the server's sockets return to {sockets} (connections and their duplicates closed)")
    healthy(service)


@pytest.mark.parametrize("path", ["sendfile", "throttled"])
def test_a_very_slow_reader_does_not_make_the_server_buffer(make_service: ServiceFactory, path: str) -> None:
    # A 200 MiB file read at about 300 KiB/s for three seconds: a server that
    # read ahead of the socket would grow by up to the whole file.
    service = make_service(*(["--download-rate", "100M"] if path == "throttled" else []))
    file_id = plant_sparse_blob(service.storage, 200 * MiB)
    assert requests.get(f"{service.url}/download/{file_id}", headers={"Range": "bytes=0-99999"},
                        timeout=10).status_code == 206  # warm up the code paths before the baseline
    baseline = rss_bytes(service.proc.pid)
    peak = baseline
    sock = connect(service)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.sendall(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    received = 0
    for _ in range(60):
        received += len(sock.recv(16 * 1024))
        peak = max(peak, rss_bytes(service.proc.pid))
        time.sleep(0.05)
    reset(sock)
    assert received > 0
    assert peak - baseline < 20 * MiB, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    healthy(service)


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """Room for 1,000 connections in this process and in the services it
    starts (they inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4096
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
        except (ValueError, OSError) as exc:
            pytest.skip(f"cannot raise RLIMIT_NOFILE to {need}: {exc}")
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_idle_connections_do_not_stop_a_real_request(
        many_descriptors: None, make_service: ServiceFactory) -> None:
    service = make_service("--max-connections", "1100", "--header-timeout", "60")
    # Sockets only: the upload below may open a database handle in a thread
    # the service had not used yet, which is no leak.
    baseline = open_sockets(service.proc.pid)
    idle = []
    try:
        for n in range(1000):
            idle.append(connect(service))
            if n % 100 == 0:  # a few have started a request head and stalled
                idle[-1].sendall(b"GET /healthz HTTP/1.1\r\nHo")
        wait_until(lambda: open_sockets(service.proc.pid) >= baseline + 1000, 20, "the server accepts all 1,000")
        assert requests.get(service.url + "/healthz", timeout=10).status_code == 200
        assert requests.get(str(service.upload(b"busy day")["linkfordownload"]), timeout=10).content == b"busy day"
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: open_sockets(service.proc.pid) == baseline, 20, "all 1,000 are closed on the server too")
    healthy(service)


def test_a_never_ending_chunked_body_is_stopped_by_the_size_limit(make_service: ServiceFactory) -> None:
    service = make_service("--max-upload-size", "1M")
    chunk = b"10000\r\n" + os.urandom(64 * 1024) + b"\r\n"
    answer = b""
    sent = 0
    with connect(service) as sock:
        sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.setblocking(False)
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in answer and sent < 256 * MiB and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server stopped reading; its answer is in flight
    assert answer.startswith(b"HTTP/1.1 413 "), (sent, answer[:200])
    assert sent < 16 * MiB, f"the server read {sent} bytes of a body limited to 1 MiB"
    wait_until(lambda: tmp_files(service.storage) == [], 20, "the refused upload is removed from tmp/")
    assert blob_files(service.storage) == []
    healthy(service)


def test_garbage_after_a_request_is_answered_in_order_then_refused(service: Service) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02 not http \xff\r\n\r\n")
        raw = read_to_eof(sock)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.count(b"HTTP/1.1 ") == 1 and b"HTTP/1.1 400 " in rest and b"Connection: close" in rest

    # After an upload's body, the garbage is refused and never stored.
    with connect(service) as sock:
        sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     b"hello again, this is not a request\r\n\r\n")
        raw = read_to_eof(sock)
    assert raw.startswith(b"HTTP/1.1 201 ") and raw.count(b"HTTP/1.1 400 ") == 1
    created = json.loads(raw.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1 400", 1)[0])
    assert requests.get(f"{service.url}/download/{created['id']}", timeout=10).content == b"hello"

    # A half-closed client whose trailing bytes never form a request.
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /x HT")
        sock.shutdown(socket.SHUT_WR)
        raw = read_to_eof(sock)
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.count(b"HTTP/1.1 400 ") == 1
    healthy(service)


def test_a_head_full_of_whitespace_does_not_stall_other_clients(service: Service) -> None:
    """A 60 KB run of spaces inside one header value cost the old parser
    (a backtracking regex) seconds of event-loop time, during which every
    other client waited. Two such heads arrive; a third client's health check
    must still be answered quickly."""
    attack = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a" + b" " * 60_000 + b"b\r\nConnection: close\r\n\r\n"
    attackers = [connect(service, timeout=60) for _ in range(2)]
    for sock in attackers:
        sock.sendall(attack)
    began = time.monotonic()
    reply, _ = one_exchange(service.host, service.port,
                            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=60)
    latency = time.monotonic() - began
    print(f"health check answered in {latency:.3f} s while two 60 KB whitespace heads were parsed")
    assert reply.status == 200
    for sock in attackers:
        with sock:
            assert read_to_eof(sock).startswith(b"HTTP/1.1 200 ")
    assert latency < 2.0, f"a health check waited {latency:.1f} s behind two hostile heads"
    healthy(service)


def test_a_quote_in_the_target_cannot_forge_an_access_log_line(make_service: ServiceFactory) -> None:
    """A '"' in the target used to close the quoted request early in the
    access log; it is escaped. Every line, access log or not, has a UTC
    timestamp with its zone, whatever the local time zone."""
    service = make_service(env={"TZ": "EST+05"})
    reply, _ = one_exchange(service.host, service.port,
                            b'GET /check/x"_404_0_0.1ms_"GET_/forged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert reply.status == 404
    lines = service.wait_for_log("/forged").splitlines()
    [access] = [line for line in lines if "/forged" in line]
    assert ' "GET /check/x\\x22_404_0_0.1ms_\\x22GET_/forged HTTP/1.1" 404 ' in access, access
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) uds", line), line
        stamp = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60, line
