"""Header, keep-alive and body timeouts and the connection cap, on the real
process with small timeouts. Waits are bounded by several times the timeout
under test, so a shared, noisy machine does not make them flaky."""

from __future__ import annotations

import hashlib
import json
import os
import re
import selectors
import socket
import time

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import data_files
from tests.e2e.wire import Reply, Wire, one_exchange

pytestmark = pytest.mark.e2e

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def stored_files(service: Service) -> list[str]:
    return [str(p.relative_to(service.storage)) for p in data_files(service.storage)]


def assert_408_and_closed(wire: Wire) -> None:
    reply = wire.reply()
    assert reply.status == 408 and reply.json()["status"] == 408
    assert reply.headers["connection"] == "close"
    assert wire.closed_by_server()


def test_slowloris_trickling_a_head_gets_408_after_the_header_timeout(make_service: ServiceFactory) -> None:
    """One byte every 0.2 s never completes the head; each byte must not
    restart the clock."""
    service = make_service("--header-timeout", "1")
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with Wire(service.host, service.port) as wire:
        wire.sock.settimeout(0.2)
        answer = b""
        give_up = time.monotonic() + 8  # 8x the header timeout
        for byte in head:
            if time.monotonic() > give_up:
                break
            try:
                wire.send(bytes([byte]))
                answer = wire.sock.recv(65536)
                break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        assert answer.startswith(b"HTTP/1.1 408 "), answer or "no answer within 8 s"
        wire.buffer = answer
        assert_408_and_closed(wire)


def test_a_slow_head_finished_within_the_header_timeout_is_served(make_service: ServiceFactory) -> None:
    service = make_service("--header-timeout", "20")
    with Wire(service.host, service.port) as wire:
        for piece in (b"GET /hea", b"lthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            wire.send(piece)
            time.sleep(0.1)
        assert wire.reply().status == 200


def test_the_first_head_is_timed_from_the_connection_not_from_its_first_byte(make_service: ServiceFactory) -> None:
    """A client that connects, waits, then starts a head gets no fresh
    header timeout for it: here the 408 is due 0.5 s after the first byte,
    not 2 s (1 s of slack for a busy machine)."""
    service = make_service("--header-timeout", "2", "--keepalive-timeout", "30")
    with Wire(service.host, service.port, timeout=8) as wire:
        time.sleep(1.5)
        wire.send(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        assert_408_and_closed(wire)
        assert time.monotonic() - started < 1.5


def test_a_connection_that_sends_nothing_is_closed_silently(make_service: ServiceFactory) -> None:
    service = make_service("--header-timeout", "1")
    with Wire(service.host, service.port) as wire:
        assert wire.closed_by_server(within=8)


def test_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(make_service: ServiceFactory) -> None:
    service = make_service("--keepalive-timeout", "1", "--header-timeout", "60")
    with Wire(service.host, service.port) as wire:
        wire.send(HEALTHZ)
        reply = wire.reply()
        assert reply.status == 200 and "connection" not in reply.headers
        assert wire.closed_by_server(within=8), "idle keep-alive connection still open"


def test_keep_alive_idles_by_its_own_timeout_not_the_header_timeout(make_service: ServiceFactory) -> None:
    service = make_service("--keepalive-timeout", "30", "--header-timeout", "1")
    with Wire(service.host, service.port) as wire:
        wire.send(HEALTHZ)
        assert wire.reply().status == 200
        time.sleep(1.5)  # longer than the header timeout, well within keep-alive
        wire.send(HEALTHZ)
        assert wire.reply().status == 200
        wire.send(b"GET /healthz HTTP/1.1\r\n")  # a second head, started and left unfinished
        assert_408_and_closed(wire)


@pytest.mark.parametrize("framing, first_part", [
    (b"Content-Length: 100000\r\n", b"x" * 1000),
    (b"Transfer-Encoding: chunked\r\n", b"3e8\r\n" + b"x" * 1000 + b"\r\n3e8\r\nxx"),
])
def test_a_stalled_upload_is_aborted_with_408_and_nothing_is_stored(
        make_service: ServiceFactory, framing: bytes, first_part: bytes) -> None:
    service = make_service("--body-timeout", "1")
    with Wire(service.host, service.port) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + first_part)
        assert_408_and_closed(wire)
    assert stored_files(service) == []
    assert requests.post(service.url + "/upload/", data=b"fine", timeout=5).status_code == 201
    assert len(stored_files(service)) == 1


@pytest.mark.parametrize("how", [socket.SHUT_WR, socket.SHUT_RDWR], ids=["half-close", "close"])
def test_a_client_leaving_mid_upload_leaves_nothing_stored(service: Service, how: int) -> None:
    with Wire(service.host, service.port) as wire:
        # More than the store's first 1 MiB block: its temporary file then exists.
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 << 20)
                  + b"x" * ((1 << 20) + 5000))
        deadline = time.monotonic() + 10
        while not list((service.storage / "tmp").iterdir()):  # the upload has begun
            assert time.monotonic() < deadline
            time.sleep(0.02)
        wire.sock.shutdown(how)
        if how == socket.SHUT_WR:
            assert wire.closed_by_server()
    deadline = time.monotonic() + 10
    while stored_files(service) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored_files(service) == []


def test_a_hundred_half_open_slowloris_connections_do_not_delay_a_normal_request(
        make_service: ServiceFactory) -> None:
    # Long enough that a request made to wait for the attackers' timeouts
    # would show, short enough for the test: 5 s.
    service = make_service("--header-timeout", "5")
    attackers = []
    try:
        for i in range(100):
            sock = socket.create_connection((service.host, service.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
            attackers.append(sock)
        file_id = str(service.upload(b"served while under attack", "a.txt")["id"])
        started = time.monotonic()
        check = requests.get(f"{service.url}/check/{file_id}", timeout=5)
        download = requests.get(f"{service.url}/download/{file_id}", timeout=5)
        took = time.monotonic() - started
        assert check.status_code == 200 and download.content == b"served while under attack"
        assert took < 2.5, f"two requests took {took:.2f}s beside 100 slowloris connections"

        answers = read_until_closed(attackers, within=15)
        assert len(answers) == 100
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
    finally:
        for sock in attackers:
            sock.close()


def read_until_closed(socks: list[socket.socket], within: float) -> list[bytes]:
    """What each socket the server closed within ``within`` seconds received."""
    answers = {sock: b"" for sock in socks}
    closed: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    chunk = ready.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[ready] += chunk
                else:
                    selector.unregister(ready)
                    closed.append(ready)
    return [answers[sock] for sock in closed]


def test_connections_above_the_cap_get_503_with_retry_after(make_service: ServiceFactory) -> None:
    service = make_service("--max-connections", "3")
    held = [Wire(service.host, service.port) for _ in range(3)]
    try:
        for wire in held:  # each one is accepted and served, so it counts
            wire.send(HEALTHZ)
            assert wire.reply().status == 200
        refused: Reply
        refused, closed = one_exchange(service.host, service.port, HEALTHZ)
        assert refused.status == 503 and refused.json()["status"] == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["connection"] == "close" and closed
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the slot frees once the server has seen the close
            reply, _ = one_exchange(service.host, service.port, HEALTHZ[:-2] + b"Connection: close\r\n\r\n")
            if reply.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert reply.status == 200
    finally:
        for wire in held:
            wire.close()


def test_a_refused_connection_still_sending_a_body_reads_the_503_and_is_not_reset(
        make_service: ServiceFactory) -> None:
    """Above the cap, a client that sends a 1 MiB upload before it reads
    must still get the whole 503, then a clean close. Closing at once with
    its bytes arriving makes the kernel answer them with a reset, which
    (on a real network, where the 503 may still be in flight) destroys the
    answer; so the refusal lingers like every other one: the server shuts
    down its side after the 503 and discards what comes until the client
    closes."""
    service = make_service("--max-connections", "1")
    body = os.urandom(1 << 20)
    with Wire(service.host, service.port) as held:
        held.send(HEALTHZ)
        assert held.reply().status == 200
        with socket.create_connection((service.host, service.port), timeout=10) as sock:
            try:
                sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise AssertionError(f"the refused connection was reset: {exc!r}") from None
    assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
    head, _, rest = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    assert len(rest) == length and json.loads(rest)["status"] == 503


@pytest.mark.parametrize("flags", [(), ("--download-rate", "64M")], ids=["sendfile", "throttled writes"])
def test_a_download_the_client_stops_reading_is_aborted_after_the_body_timeout(
        make_service: ServiceFactory, flags: tuple[str, ...]) -> None:
    """32 MiB is more than the socket buffers on both sides can hold, so the
    server's writes stall; after --body-timeout it gives up on the peer, and
    the access log counts the bytes that did go (not 0, not the size)."""
    service = make_service("--body-timeout", "1", *flags)
    size = 32 << 20
    file_id = service.upload(os.urandom(size), "big.bin")["id"]
    with Wire(service.host, service.port, timeout=30) as wire:
        wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        wire.send(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wire._fill(time.monotonic() + 10)  # the head and the first bytes arrive
        time.sleep(3)  # stop reading for three body timeouts
        received = len(wire.buffer.split(b"\r\n\r\n", 1)[1])
        wire.buffer = b""
        deadline = time.monotonic() + 20
        while wire._fill(deadline):
            received += len(wire.buffer)
            wire.buffer = b""
        assert received < size, "the whole file arrived: the server never stalled"
    assert requests.get(service.url + "/healthz", timeout=5).status_code == 200
    log = service.wait_for_log(f"GET /download/{file_id}")
    logged = re.search(rf'"GET /download/{file_id} HTTP/1.1" 200 (\d+) ', log)
    assert logged, service.log()[-2000:]
    assert received <= int(logged.group(1)) < size, f"logged {logged.group(1)} bytes sent, the client got {received}"


def test_a_steady_slow_reader_gets_the_whole_download(make_service: ServiceFactory) -> None:
    """With --body-timeout 1, a client reading at most 16 KiB at a time,
    paced to 320 KiB/s, through a small receive buffer is slow but never
    stalls: the timeout measures a lack of progress, never how long a chunk
    of the file takes (nor how long the kernel's large send buffer takes to
    drain), so all 6 MiB arrive intact and the log counts them all."""
    service = make_service("--body-timeout", "1")
    data = os.urandom(6 << 20)
    file_id = service.upload(data, "slow.bin")["id"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(10)
    with sock:
        sock.connect((service.host, service.port))
        sock.sendall(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = bytearray()
        began = time.monotonic()
        while time.monotonic() < began + 60:
            try:
                chunk = sock.recv(16 * 1024)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            time.sleep(max(0.0, began + len(received) / (320 * 1024) - time.monotonic()))
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:100]
    assert len(body) == len(data), f"cut after {len(body)} of {len(data)} bytes"
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    service.wait_for_log(f'"GET /download/{file_id} HTTP/1.1" 200 {len(data)} ')
