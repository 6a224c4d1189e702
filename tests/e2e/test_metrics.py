"""GET /metrics on the real service with ``--workers 2``: every scrape shows
the whole service's numbers, whichever worker answers it (each worker in
turn is made to answer by stopping the other one with SIGSTOP), also after a
worker was killed and replaced; ``--metrics-listen`` moves it to a port of
its own."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Service, ServiceFactory, start_service
from tests.e2e.test_workers import wait_for_children

pytestmark = pytest.mark.e2e

METRICS_ON = re.compile(r"metrics on (http://\S+)/metrics")
Found = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # value by sample name and sorted labels


def scrape(url: str) -> Found:
    """One scrape over a new connection (so any worker may take it)."""
    response = requests.get(url, timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    found: Found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_of(found: Found, route: str, method: str, status: str) -> float:
    return found.get(("uds_http_requests_total", (("method", method), ("route", route), ("status", status))), 0)


def make_traffic(service: Service, uploads: int, checks: int) -> list[str]:
    """``uploads`` uploads and ``checks`` checks, each on a new connection."""
    ids = [str(service.upload(os.urandom(1000 + i), f"m{i}.bin")["id"]) for i in range(uploads)]
    for i in range(checks):
        response = requests.get(f"{service.url}/check/{ids[i % len(ids)]}", timeout=10,
                                headers={"Connection": "close"})
        assert response.status_code == 200
    return ids


def wait_until_counted(url: str, checks: int) -> None:
    """Any scrape until it shows the ``checks`` made: a request is counted
    just after its answer is written, so the last one may still be on its
    way into the table when its client has the answer already. Once one
    scrape shows it, every later one does (all read the same memory)."""
    deadline = time.monotonic() + 10
    while requests_of(scrape(url), "check", "GET", "200") < checks:
        assert time.monotonic() < deadline, "the checks made never showed in a scrape"
        time.sleep(0.05)


def scrape_each_worker(url: str, workers: set[int], checks: int) -> list[Found]:
    """Scrapes answered by each worker in turn: all the others are stopped
    (SIGSTOP) meanwhile, so only that one can accept the connection; first
    ``wait_until_counted``."""
    wait_until_counted(url, checks)
    scrapes = []
    for answering in sorted(workers):
        stopped = workers - {answering}
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            scrapes.append(scrape(url))
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
    return scrapes


def assert_whole_service(scrapes: list[Found], uploads: int, checks: int, stored_bytes: int) -> None:
    assert {found[("uds_metrics_worker", ())] for found in scrapes} == {0, 1}  # each worker answered one
    for found in scrapes:
        assert requests_of(found, "upload", "POST", "201") == uploads
        assert requests_of(found, "check", "GET", "200") == checks
        assert found[("uds_uploads_completed_total", ())] == uploads
        assert found[("uds_stored_files", ())] == uploads
        assert found[("uds_stored_bytes", ())] == stored_bytes
        assert found[("uds_workers", ())] == 2
        assert found[("uds_active_uploads", ())] == found[("uds_active_downloads", ())] == 0


def test_every_worker_answers_a_scrape_with_the_whole_services_numbers(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    workers = wait_for_children(service, 2)
    make_traffic(service, uploads=5, checks=12)
    stored = sum(1000 + i for i in range(5))
    assert_whole_service(scrape_each_worker(f"{service.url}/metrics", workers, 12), 5, 12, stored)


def test_a_killed_and_replaced_worker_neither_loses_nor_doubles_the_totals(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2")
    workers = wait_for_children(service, 2)
    make_traffic(service, uploads=4, checks=10)
    # Killed before it counted the request it just answered, a worker would
    # lose that count: that is the kill's doing, not what is tested here.
    wait_until_counted(f"{service.url}/metrics", 10)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for_children(service, 2, exclude={victim})
    service.wait_for_log("exited with -9; starting a new one")
    stored = sum(1000 + i for i in range(4))
    assert_whole_service(scrape_each_worker(f"{service.url}/metrics", replaced, 10), 4, 10, stored)
    ids = make_traffic(service, uploads=1, checks=0)  # the new worker counts on from there
    for _ in range(3):
        assert requests.get(f"{service.url}/check/{ids[0]}", timeout=10).status_code == 200
    assert_whole_service(scrape_each_worker(f"{service.url}/metrics", replaced, 13), 5, 13, stored + 1000)


def test_metrics_listen_serves_metrics_on_its_own_port_and_not_on_the_main_one(make_service: ServiceFactory) -> None:
    service = make_service("--workers", "2", "--metrics-listen", "127.0.0.1:0")
    workers = wait_for_children(service, 2)
    match = METRICS_ON.search(service.wait_for_log("metrics on "))
    assert match is not None
    operations = match.group(1)
    make_traffic(service, uploads=2, checks=3)
    hidden = requests.get(f"{service.url}/metrics", timeout=10)
    assert hidden.status_code == 404
    assert requests.get(f"{operations}/healthz", timeout=10).json() == {"status": 200, "message": "ok"}
    assert requests.get(f"{operations}/check/x", timeout=10).status_code == 404
    scrapes = scrape_each_worker(f"{operations}/metrics", workers, 3)
    assert_whole_service(scrapes, 2, 3, 1000 + 1001)
    for found in scrapes:
        assert requests_of(found, "metrics", "GET", "404") == 1  # the main port's answer


def test_a_metrics_address_that_is_taken_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        service = start_service(tmp_path / "storage", tmp_path / "service.log", "--metrics-listen",
                                f"127.0.0.1:{port}", wait=False)
        assert service.proc.wait(15) == 1
    assert f"cannot listen on 127.0.0.1:{port} (--metrics-listen)" in service.log()
