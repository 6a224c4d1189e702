"""Write backpressure and bounded closes, on the real process: a client that
pipelines requests and never reads their answers must cost the server no
more than its buffers' high-water marks, and must not keep a connection slot
once its answers stop moving for ``--body-timeout``."""

from __future__ import annotations

import select
import socket
import struct
import time
from urllib.parse import quote

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import rss_bytes
from tests.e2e.wire import one_exchange

pytestmark = pytest.mark.e2e

MiB = 1 << 20
HEALTHZ_CLOSE = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def upload_with_a_long_name(service: Service) -> str:
    """A file whose HEAD answer is large (about 3.4 KB): its name of 255
    emoji is percent-encoded in Content-Disposition, 12 bytes a character."""
    response = requests.post(service.url + "/upload/", data=b"tiny", timeout=10, headers={
        "Content-Disposition": "attachment; filename*=UTF-8''" + quote("😀" * 255)})
    assert response.status_code == 201, response.text
    file_id = str(response.json()["id"])
    head = requests.head(f"{service.url}/download/{file_id}", timeout=10)
    assert len(head.headers["content-disposition"]) > 3000
    return file_id


def never_reading_client(service: Service) -> socket.socket:
    """A connection with a small receive buffer, so the answers pile up on
    the server's side."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((service.host, service.port))
    return sock


def send_what_fits(sock: socket.socket, data: bytes, patience: float) -> int:
    """Send ``data`` without ever reading, until it is all sent or nothing
    more goes for ``patience`` seconds (the server stopped reading).
    Returns the bytes sent."""
    sock.setblocking(False)
    sent = 0
    last_progress = time.monotonic()
    while sent < len(data) and time.monotonic() - last_progress < patience:
        _, writable, _ = select.select([], [sock], [], 0.1)
        if writable:
            try:
                sent += sock.send(data[sent:sent + 65536])
            except BlockingIOError:
                continue
            last_progress = time.monotonic()
    sock.settimeout(10)
    return sent


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_pipelined_requests_never_read_do_not_make_the_server_buffer(make_service: ServiceFactory) -> None:
    """30,000 pipelined HEADs (1.9 MB) whose 3.4 KB answers are never read:
    without backpressure the server answers them all into its write buffer
    (some 100 MB of answers). It must instead stop answering, and reading,
    while its write buffer is full."""
    service = make_service()
    file_id = upload_with_a_long_name(service)
    pid = service.proc.pid
    baseline = rss_bytes(pid)
    sock = never_reading_client(service)
    try:
        sent = send_what_fits(sock, f"HEAD /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 30_000,
                              patience=2.0)
        peak = baseline
        settle = time.monotonic() + 3.0  # the old code was still answering for a while
        while time.monotonic() < settle:
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.05)
        started = time.monotonic()
        reply, _ = one_exchange(service.host, service.port, HEALTHZ_CLOSE)
        latency = time.monotonic() - started
    finally:
        reset(sock)
    print(f"\nRSS before {baseline / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB "
          f"(+{(peak - baseline) / MiB:.1f} MiB); {sent} bytes of requests sent")
    assert reply.status == 200 and latency < 2.0, f"another client waited {latency:.2f}s"
    assert peak - baseline < 30 * MiB, (
        f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB for {sent / MiB:.2f} MiB of requests")


@pytest.mark.parametrize("leave", ["half-close", "close"])
def test_clients_that_pipeline_and_never_read_give_their_slots_back(make_service: ServiceFactory, leave: str) -> None:
    """Four clients fill --max-connections 4 with pipelined requests whose
    answers they never read, then half-close (or close) their side. Their
    answers cannot move, so after --body-timeout 1 without progress the
    server must drop them: a new client is served, not refused with 503."""
    service = make_service("--max-connections", "4", "--body-timeout", "1")
    file_id = upload_with_a_long_name(service)
    request = f"HEAD /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    hogs = [never_reading_client(service) for _ in range(4)]
    try:
        for sock in hogs:
            send_what_fits(sock, request * 2000, patience=0.5)  # 6.8 MB of answers each
            if leave == "half-close":
                sock.shutdown(socket.SHUT_WR)
            else:
                sock.close()
        deadline = time.monotonic() + 15
        while True:
            reply, _ = one_exchange(service.host, service.port, HEALTHZ_CLOSE)
            if reply.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.status == 200, "the never-reading clients still hold every slot after 15 s"
    finally:
        for sock in hogs:
            sock.close()
