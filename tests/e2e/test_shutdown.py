"""Graceful shutdown on SIGTERM/SIGINT: the listening socket closes at once,
idle connections close at once, in-flight transfers finish within
--shutdown-timeout, those that do not are aborted (an upload is then not
committed), and the process exits 0."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time

import pytest

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import data_files
from tests.e2e.wire import Wire

pytestmark = pytest.mark.e2e

FIRST_BLOCK = 1 << 20  # the filesystem store's WRITE_BUFFER


def stored_files(service: Service) -> list[str]:
    return [str(p.relative_to(service.storage)) for p in data_files(service.storage)]


def exit_code(service: Service, within: float = 20) -> int:
    return service.proc.wait(within)


def assert_refuses_new_connections(service: Service) -> None:
    """The signal is handled asynchronously: allow a moment, then every
    connection attempt must be refused."""
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection((service.host, service.port), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            # A reset: the connection was still in the accept queue when the
            # listening socket closed. Either way, it was not accepted.
            return
        assert time.monotonic() < deadline, "still accepting connections 5 s after the signal"
        time.sleep(0.05)


def receive_some_body(wire: Wire, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in wire.buffer or len(wire.buffer.split(b"\r\n\r\n", 1)[1]) < at_least:
        assert wire._fill(deadline), "connection closed early"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_in_flight_download_finishes_then_the_process_exits_0(make_service: ServiceFactory, sig: int) -> None:
    service = make_service("--download-rate", "256K", "--shutdown-timeout", "20")
    data = os.urandom(512 * 1024)  # about 1.8 s at 256 KiB/s after a 64 KiB burst
    file_id = service.upload(data, "d.bin")["id"]
    with Wire(service.host, service.port, timeout=20) as wire:
        wire.send(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        receive_some_body(wire, 1)
        service.proc.send_signal(sig)
        assert_refuses_new_connections(service)
        reply = wire.reply()
        assert reply.status == 200 and hashlib.sha256(reply.body).digest() == hashlib.sha256(data).digest()
        assert wire.closed_by_server(), "a draining server must not keep the connection"
    assert exit_code(service) == 0
    assert "stopped" in service.log()


def test_an_in_flight_upload_finishes_and_is_committed(make_service: ServiceFactory) -> None:
    service = make_service("--shutdown-timeout", "20")
    data = os.urandom(FIRST_BLOCK + 200_000)
    with Wire(service.host, service.port, timeout=20) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data)
                  + data[:FIRST_BLOCK + 1000])
        wait_for_partial_upload(service)
        service.proc.send_signal(signal.SIGTERM)
        assert_refuses_new_connections(service)
        wire.send(data[FIRST_BLOCK + 1000:])
        reply = wire.reply()
        assert reply.status == 201 and reply.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert reply.headers["connection"] == "close"
        assert wire.closed_by_server()
    assert exit_code(service) == 0
    assert len([f for f in stored_files(service) if f.startswith("objects")]) == 1


def wait_for_partial_upload(service: Service) -> None:
    """Until the temporary file exists: the store creates it when the first
    block (1 MiB) of the body is written, so send more than that first."""
    deadline = time.monotonic() + 10
    while not list((service.storage / "tmp").iterdir()):
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.02)


def test_an_upload_exceeding_the_shutdown_timeout_is_aborted_and_not_committed(
        make_service: ServiceFactory) -> None:
    service = make_service("--shutdown-timeout", "1", "--body-timeout", "60")
    with Wire(service.host, service.port, timeout=20) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 * FIRST_BLOCK)
                  + b"x" * (FIRST_BLOCK + 1000))
        wait_for_partial_upload(service)
        service.proc.send_signal(signal.SIGTERM)
        assert exit_code(service) == 0
        assert wire.closed_by_server(within=5)  # aborted: no response
    assert stored_files(service) == []


def test_a_download_exceeding_the_shutdown_timeout_is_cut_and_the_exit_is_0(make_service: ServiceFactory) -> None:
    service = make_service("--download-rate", "64K", "--shutdown-timeout", "1")
    data = os.urandom(1 << 20)  # 15 s at 64 KiB/s
    file_id = service.upload(data, "slow.bin")["id"]
    with Wire(service.host, service.port, timeout=20) as wire:
        wire.send(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        receive_some_body(wire, 1)
        service.proc.send_signal(signal.SIGTERM)
        assert exit_code(service) == 0
        with pytest.raises(AssertionError, match="closed in the body"):
            wire.reply()
    assert "aborting 1 connection" in service.log()


def test_idle_keep_alive_connections_close_at_once(make_service: ServiceFactory) -> None:
    service = make_service("--keepalive-timeout", "60", "--shutdown-timeout", "30")
    with Wire(service.host, service.port) as wire:
        wire.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wire.reply().status == 200
        service.proc.send_signal(signal.SIGTERM)
        assert wire.closed_by_server(within=5)
    assert exit_code(service, within=5) == 0
