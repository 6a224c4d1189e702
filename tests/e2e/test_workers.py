"""``--workers N``: several processes on one listening socket."""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.faults import tmp_files, wait_until

pytestmark = pytest.mark.e2e


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


def wait_for_children(service: Service, count: int, exclude: set[int] = set()) -> set[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = children(service.proc.pid) - exclude
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} workers, saw {children(service.proc.pid)}")


def test_two_workers_serve_one_port_and_stop_cleanly(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    workers = wait_for_children(service, 2)
    assert len(workers) == 2
    blobs = [os.urandom(10_000 + i) for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda data: service.upload(data, "w.bin"), blobs))
        contents = list(pool.map(lambda b: requests.get(str(b["linkfordownload"]), timeout=10).content, bodies))
    assert contents == blobs  # uploads through one worker are downloadable through any
    assert service.stop(signal.SIGTERM) == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
               for pid in workers)


def test_a_crashed_worker_is_replaced(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    workers = wait_for_children(service, 2)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for_children(service, 2, exclude={victim})
    assert victim not in replaced
    assert "exited with -9; starting a new one" in service.log()
    for _ in range(10):
        assert requests.get(service.url + "/healthz", timeout=5).status_code == 200


def test_total_rate_is_split_between_workers(make_service: ServiceFactory) -> None:
    # 2 workers under a 400 kB/s total: each holds 200 kB/s, so one download is held to about 200 kB/s.
    service = make_service("--workers", "2", "--total-download-rate", "400000")
    data = os.urandom(600_000)
    url = str(service.upload(data, "split.bin")["linkfordownload"])
    start = time.monotonic()
    assert requests.get(url, timeout=30).content == data
    elapsed = time.monotonic() - start
    expected = (600_000 - 65_536) / 200_000
    assert 0.75 * expected <= elapsed <= 1.8 * expected, (elapsed, expected)  # above: start-up and load


def holder_of(path: Path, pids: set[int]) -> int:
    """The one process of ``pids`` that has ``path`` open."""
    holders = {pid for pid in pids for fd in Path(f"/proc/{pid}/fd").iterdir()
               if os.readlink(fd) == str(path)}
    assert len(holders) == 1, (path, holders)
    return holders.pop()


def test_a_crashed_workers_partial_upload_is_removed_by_the_supervisor(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    workers = wait_for_children(service, 2)
    with socket.create_connection((service.host, service.port), timeout=10) as upload:
        # More than the store's first write block (1 MiB), so that the
        # temporary file exists; then the upload stalls, unfinished.
        upload.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%x\r\n" % (1 << 20) + os.urandom(1 << 20) + b"\r\n"
                       + b"10000\r\n" + os.urandom(1 << 16) + b"\r\n")
        wait_until(lambda: len(tmp_files(service.storage)) == 1, 10, "the upload's temporary file exists")
        partial = tmp_files(service.storage)[0].resolve()
        victim = holder_of(partial, workers)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: tmp_files(service.storage) == [], 20, f"the supervisor removed {partial.name}")
    service.wait_for_log(f"worker pid {victim}: 1 temporary file(s) removed", 10)  # said after the removal
    wait_for_children(service, 2, exclude={victim})
    assert service.upload(b"still serving")["size"] == 13
