"""What the stall timeout takes for progress: ``unsent`` counts the bytes a
peer has not taken, in the transport's buffer and in the kernel's send
queue, so a slow reader draining a large kernel buffer shows progress even
while the kernel takes nothing more from us."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from adapters.http.sender import kernel_queued

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCOUTQ is Linux's")


def test_the_kernel_queue_holds_what_the_peer_has_not_taken_and_falls_as_it_reads() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            server.setblocking(False)
            sent = 0
            try:
                while True:
                    sent += server.send(b"x" * 65536)
            except BlockingIOError:
                pass  # the kernel holds all it will take
            queued = kernel_queued(server.fileno())
            assert 0 < queued <= sent
            client.settimeout(5)
            taken = 0
            while taken < 100_000:
                taken += len(client.recv(65536))
            deadline = time.monotonic() + 5
            while kernel_queued(server.fileno()) >= queued and time.monotonic() < deadline:
                time.sleep(0.01)
            assert kernel_queued(server.fileno()) < queued
    assert kernel_queued(-1) == 0
