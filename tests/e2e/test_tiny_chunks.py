"""An upload made of the smallest chunks the framing allows must cost the
store work linear in its bytes: the shared write thread is everyone's, and a
job that takes seconds there stalls every other upload."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import tmp_files
from tests.e2e.wire import Wire

pytestmark = pytest.mark.e2e

CHUNKS = 400_000  # 2 bytes each: 800 kB of data, under one write block


def tiny_chunk_upload(service: Service, sent: threading.Event) -> tuple[int, float]:
    """Upload ``CHUNKS`` 2-byte chunks; the status and the seconds from the
    last byte sent to the answer (the store's commit is in there)."""
    with Wire(service.host, service.port, timeout=120) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b'Content-Disposition: attachment; filename="tiny.bin"\r\n\r\n')
        body = b"2\r\nXY\r\n" * CHUNKS + b"0\r\n\r\n"
        for start in range(0, len(body), 1 << 16):
            wire.send(body[start:start + (1 << 16)])
        wire.sock.shutdown(socket.SHUT_WR)
        end = time.monotonic()
        sent.set()
        reply = wire.reply()
        return reply.status, time.monotonic() - end


def test_tiny_chunks_do_not_stall_other_uploads(make_service: ServiceFactory) -> None:
    service = make_service("--fsync", "never", "--log-level", "warning")
    sent = threading.Event()
    outcome: list[tuple[int, float]] = []
    attacker = threading.Thread(target=lambda: outcome.append(tiny_chunk_upload(service, sent)))
    attacker.start()
    try:
        assert sent.wait(60), "the tiny-chunk body was not accepted within 60 s"
        # The body is under one write block: its temporary file is created by
        # the commit's job on the write thread. From then on (or once it is
        # answered), uploads from another client must not wait for that job.
        # (Before, the parsing of the last chunks on the event loop is the
        # transport's business, not the store's.)
        deadline = time.monotonic() + 60
        while not tmp_files(service.storage) and not outcome and time.monotonic() < deadline:
            time.sleep(0.005)
        latencies = []
        for i in range(3):
            start = time.monotonic()
            response = requests.post(service.url + "/upload/", data=b"small file %d" % i, timeout=60,
                                     headers={"Content-Disposition": 'attachment; filename="s.txt"'})
            latencies.append(time.monotonic() - start)
            assert response.status_code == 201, response.text
    finally:
        attacker.join(120)
    assert outcome and outcome[0][0] == 201, outcome
    print(f"tiny-chunk upload answered {outcome[0][1]:.2f} s after its last byte; "
          f"other uploads during its commit: {' '.join(f'{s:.3f}' for s in latencies)} s")
    assert max(latencies) < 2.0, latencies
