"""Speed limits end to end, on the real process, with a generous tolerance
(shared, noisy machines): the exact arithmetic is proven on the fake clock in
tests/unit/test_throttle.py."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from adapters.throttle import default_burst
from tests.e2e.conftest import Service, ServiceFactory

pytestmark = pytest.mark.e2e

LOW, HIGH = 0.75, 1.4


def expected_seconds(total: int, rate: int) -> float:
    return (total - default_burst(rate)) / rate


def timed_download(url: str) -> tuple[float, bytes]:
    start = time.monotonic()
    content = requests.get(url, timeout=60).content
    return time.monotonic() - start, content


def test_download_rate_per_connection_and_check_stays_fast(make_service: ServiceFactory) -> None:
    service = make_service("--download-rate", "200000")
    data = os.urandom(1_000_000)
    body = service.upload(data, "big.bin")
    with ThreadPoolExecutor(1) as pool:
        download = pool.submit(timed_download, str(body["linkfordownload"]))
        time.sleep(1.0)
        assert not download.done()
        # Another request while the transfer is throttled: answered at full speed.
        start = time.monotonic()
        check = requests.get(str(body["linkforcheck"]), timeout=5)
        check_seconds = time.monotonic() - start
        elapsed, content = download.result()
    assert check.status_code == 200 and check_seconds < 1.5, check_seconds
    assert content == data
    expected = expected_seconds(len(data), 200_000)
    assert LOW * expected <= elapsed <= HIGH * expected, (elapsed, expected)


def test_upload_rate_per_connection(make_service: ServiceFactory) -> None:
    service = make_service("--upload-rate", "200000")
    data = os.urandom(1_000_000)
    start = time.monotonic()
    body = service.upload(data, "up.bin")
    elapsed = time.monotonic() - start
    expected = expected_seconds(len(data), 200_000)
    assert LOW * expected <= elapsed <= HIGH * expected, (elapsed, expected)
    assert requests.get(str(body["linkfordownload"]), timeout=10).content == data
    # Downloads are not limited by an upload limit.
    elapsed, _ = timed_download(str(body["linkfordownload"]))
    assert elapsed < expected / 2


def test_total_download_rate_is_shared_fairly(make_service: ServiceFactory) -> None:
    service = make_service("--total-download-rate", "400000")
    data = os.urandom(400_000)
    url = str(service.upload(data, "shared.bin")["linkfordownload"])
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: timed_download(url), range(4)))
    total = time.monotonic() - start
    expected = expected_seconds(4 * len(data), 400_000)
    assert LOW * expected <= total <= HIGH * expected, (total, expected)
    assert all(content == data for _, content in results)
    # Fair: nobody finishes much before the others (each got about a quarter).
    durations = sorted(seconds for seconds, _ in results)
    assert durations[0] >= 0.6 * durations[-1], durations


def test_per_connection_and_total_limits_combine(make_service: ServiceFactory) -> None:
    # Alone, a download is held to its own 150 kB/s; two together to the 200 kB/s total.
    service = make_service("--download-rate", "150000", "--total-download-rate", "200000")
    data = os.urandom(600_000)
    url = str(service.upload(data, "combo.bin")["linkfordownload"])
    alone, content = timed_download(url)
    assert content == data
    expected_alone = expected_seconds(len(data), 150_000)
    assert LOW * expected_alone <= alone <= HIGH * expected_alone, (alone, expected_alone)
    start = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: timed_download(url), range(2)))
    together = time.monotonic() - start
    expected_together = expected_seconds(2 * len(data), 200_000)
    assert LOW * expected_together <= together <= HIGH * expected_together, (together, expected_together)


def test_unlimited_downloads_are_not_slowed(service: Service) -> None:
    data = os.urandom(8 << 20)
    url = str(service.upload(data, "fast.bin")["linkfordownload"])
    elapsed, content = timed_download(url)
    assert content == data and elapsed < 5.0  # a throttle at even 2 MB/s would need 4 s
