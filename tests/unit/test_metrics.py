"""The metrics table, its recorders and the exposition, without HTTP."""

from __future__ import annotations

import os
import tracemalloc

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from adapters.metrics.exposition import Stored
from adapters.metrics.layout import BUCKETS, STATUSES
from adapters.metrics.registry import Metrics
from adapters.metrics.table import SharedTable

ROUTES = ("upload", "check", "download")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert isinstance(sample, Sample)
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def requests_of(text: str) -> dict[tuple[str, str, str], float]:
    return {(dict(labels)["route"], dict(labels)["method"], dict(labels)["status"]): value
            for (name, labels), value in samples(text).items() if name == "uds_http_requests_total"}


def scrape(metrics: Metrics, files: int = 0, size: int = 0) -> str:
    return metrics.exposition(Stored(files, size)).decode("utf-8")


def test_the_exposition_is_prometheus_text_format_with_help_and_type_for_every_family() -> None:
    metrics = Metrics(1, ROUTES)
    recorder = metrics.recorder(0)
    recorder.request("check", "GET", 200, 0.003, 0, 120)
    recorder.upload_stored()
    text = scrape(metrics, 4, 1000)
    assert text.endswith("\n")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    # The parser names counter families without their "_total".
    assert families["uds_http_requests"].type == "counter"
    assert families["uds_http_request_duration_seconds"].type == "histogram"
    assert families["uds_active_uploads"].type == "gauge"
    assert families["uds_throttle_wait_seconds"].type == "counter"
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert f"# HELP {name} " in text
    found = samples(text)
    assert found[("uds_http_requests_total", (("method", "GET"), ("route", "check"), ("status", "200")))] == 1
    assert found[("uds_stored_files", ())] == 4
    assert found[("uds_stored_bytes", ())] == 1000
    assert found[("uds_uploads_completed_total", ())] == 1
    assert found[("uds_http_sent_bytes_total", ())] == 120
    assert found[("uds_workers", ())] == 1


def test_two_workers_regions_are_summed_by_whichever_answers() -> None:
    metrics = Metrics(2, ROUTES)
    first, second = metrics.recorder(0), metrics.recorder(1)
    for _ in range(3):
        first.request("check", "GET", 200, 0.01, 0, 10)
    for _ in range(4):
        second.request("check", "GET", 200, 0.02, 0, 5)
    second.request("upload", "POST", 201, 0.5, 1000, 300)
    first.download_started()
    second.download_started()
    second.download_ended(complete=True)
    first.meter("client", "download")(1.5)
    second.meter("client", "download")(0.25)
    texts = {metrics.exposition(Stored(0, 0), worker).decode() for worker in (0, 1)}
    assert len({text.replace("uds_metrics_worker 1", "uds_metrics_worker 0") for text in texts}) == 1
    found = samples(texts.pop())
    assert requests_of(scrape(metrics)) == {("check", "GET", "200"): 7, ("upload", "POST", "201"): 1}
    assert found[("uds_http_sent_bytes_total", ())] == 3 * 10 + 4 * 5 + 300
    assert found[("uds_http_received_bytes_total", ())] == 1000
    assert found[("uds_active_downloads", ())] == 1
    assert found[("uds_downloads_completed_total", ())] == 1
    assert found[("uds_throttle_wait_seconds_total", (("direction", "download"), ("limit", "client")))] == 1.75
    assert found[("uds_http_request_duration_seconds_count", (("route", "check"),))] == 7
    assert found[("uds_http_request_duration_seconds_sum", (("route", "check"),))] == pytest.approx(0.11)
    assert found[("uds_workers", ())] == 2


def test_a_child_process_writes_its_region_and_the_parent_sees_it() -> None:
    """The table is shared memory: what a forked worker records, the parent
    (and every other worker) reads."""
    metrics = Metrics(2, ROUTES)
    metrics.recorder(0).request("check", "GET", 200, 0.001, 0, 1)
    pid = os.fork()
    if pid == 0:  # the "worker": record, then leave without any clean-up
        recorder = metrics.recorder(1)
        for _ in range(5):
            recorder.request("download", "GET", 200, 0.2, 0, 7)
        recorder.files_expired(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    found = samples(scrape(metrics))
    assert requests_of(scrape(metrics)) == {("check", "GET", "200"): 1, ("download", "GET", "200"): 5}
    assert found[("uds_http_sent_bytes_total", ())] == 36
    assert found[("uds_files_expired_total", ())] == 3


def test_a_replaced_worker_keeps_the_counters_of_its_region_and_restarts_its_gauges() -> None:
    """A crashed worker is replaced under the same index: the totals go on
    (neither lost nor counted twice), the transfers it had in progress are
    gone with it."""
    metrics = Metrics(2, ROUTES)
    dead = metrics.recorder(1)
    dead.request("check", "GET", 200, 0.01, 0, 10)
    dead.upload_started()
    dead.download_started()
    dead.download_started()
    replacement = metrics.recorder(1)
    replacement.request("check", "GET", 200, 0.01, 0, 10)
    found = samples(scrape(metrics))
    assert requests_of(scrape(metrics)) == {("check", "GET", "200"): 2}
    assert found[("uds_http_sent_bytes_total", ())] == 20
    assert found[("uds_active_uploads", ())] == 0
    assert found[("uds_active_downloads", ())] == 0


def test_histogram_buckets_are_cumulative_and_a_bound_is_inclusive() -> None:
    metrics = Metrics(1, ROUTES)
    recorder = metrics.recorder(0)
    durations = [0.0, 0.001, 0.0011, 0.3, 1.0, 299.0, 300.0, 301.0, 5000.0]
    for seconds in durations:
        recorder.request("download", "GET", 200, seconds, 0, 0)
    found = samples(scrape(metrics))
    buckets = {dict(labels)["le"]: value for (name, labels), value in found.items()
               if name == "uds_http_request_duration_seconds_bucket"}
    assert list(buckets) == [*map(repr, BUCKETS), "+Inf"]
    for bound, value in buckets.items():
        limit = float(bound)
        assert value == sum(1 for seconds in durations if seconds <= limit), bound
    assert list(buckets.values()) == sorted(buckets.values())
    assert found[("uds_http_request_duration_seconds_count", (("route", "download"),))] == len(durations)
    assert found[("uds_http_request_duration_seconds_sum", (("route", "download"),))] == pytest.approx(sum(durations))


def test_unexpected_labels_fall_into_fixed_other_slots() -> None:
    metrics = Metrics(1, ROUTES)
    recorder = metrics.recorder(0)
    recorder.request("not-a-route", "BREW", 418, 0.1, 0, 0)
    recorder.request(None, "GET", 404, 0.1, 0, 0)
    recorder.request("check", "GET", 299, 0.1, 0, 0)  # no such status in http.HTTPStatus
    recorder.request("check", "GET", 12345, 0.1, 0, 0)
    recorder.refused(400)
    assert 418 in STATUSES
    assert requests_of(scrape(metrics)) == {
        ("other", "other", "418"): 1,
        ("none", "GET", "404"): 1,
        ("check", "GET", "other"): 2,
        ("none", "other", "400"): 1,
    }


def test_the_table_is_only_sized_once_and_regions_do_not_overlap() -> None:
    table = SharedTable(3, ints=5, floats=2)
    for index in range(3):
        ints, floats = table.region(index)
        for slot in range(5):
            ints[slot] += (index + 1) * 10 + slot
        for slot in range(2):
            floats[slot] += index + 0.5
    ints_sum, floats_sum = table.sums()
    assert ints_sum == [sum((i + 1) * 10 + slot for i in range(3)) for slot in range(5)]
    assert floats_sum == [1.5 + 2.5 + 0.5] * 2
    with pytest.raises(ValueError):
        SharedTable(0, 1, 1)


def test_recording_a_request_allocates_nothing_that_stays() -> None:
    """The hot path: a request costs slot updates, no label strings or
    tuples kept per request (memory does not grow with the request count)."""
    metrics = Metrics(1, ROUTES)
    recorder = metrics.recorder(0)
    meter = recorder.meter("total", "download")
    recorder.request("check", "GET", 200, 0.001, 10, 100)  # warm-up
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(20_000):
            recorder.request("check", "GET", 200, 0.001 * (i % 7), 10, 100)
            recorder.request(None, "POST", 404, 0.2, 0, 50)
            meter(0.125)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename")
                if stat.traceback[0].filename.endswith(("recorder.py", "layout.py", "table.py")))
    assert grown <= 0
    assert requests_of(scrape(metrics))[("check", "GET", "200")] == 20_001
