"""GET /metrics on the in-process service: known requests, then a scrape
parsed with prometheus_client's parser, whose numbers must be exactly what
the test caused; speed-limit waits in virtual time."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics.exposition import CONTENT_TYPE
from bootstrap import build_operations_server
from config import Config
from tests.fake_resumable import MemoryResumableStore
from tests.http.calls import METADATA, ask, request, upload
from tests.http.test_tus_inproc import create, exchange, patch
from tests.inproc import App, LoopClock, Pipe, Reply, run, settle

Labels = tuple[tuple[str, str], ...]


def parse(reply: Reply) -> dict[tuple[str, Labels], float]:
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(reply.body.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(app: App) -> dict[tuple[str, Labels], float]:
    return parse(await ask(app, "GET", "/metrics"))


def requests_counted(found: dict[tuple[str, Labels], float]) -> Counter[tuple[str, str, str]]:
    counted: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in found.items():
        if name == "uds_http_requests_total":
            tags = dict(labels)
            counted[(tags["route"], tags["method"], tags["status"])] = int(value)
    return counted


async def slow(app: App, method: str, path: str, body: bytes = b"") -> Reply:
    """``ask`` for a request that takes a while (a rate limit holds it)."""
    pipe = app.connect()
    pipe.send(request(method, path, body))
    while not (replies := pipe.replies()):
        await settle(0.5)
    [reply] = replies
    return reply


def value(found: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_a_scrape_counts_exactly_the_requests_bytes_and_files_the_test_caused() -> None:
    async def main() -> None:
        app = App()
        made: Counter[tuple[str, str, str]] = Counter()
        received = sent = 0

        async def call(route: str, method: str, path: str, body: bytes = b"", **headers: str) -> Reply:
            nonlocal received, sent
            reply = await ask(app, method, path, body, **headers)
            made[(route, method, str(reply.status))] += 1
            received += len(body)
            sent += len(reply.body)
            return reply

        bodies = [b"first file", b"second, longer file" * 100]
        answers = [(await call("upload", "POST", "/upload/", body)).json() for body in bodies]
        at_root = await call("upload_at_root", "PUT", "/at-root.txt", b"put at the root")
        assert at_root.status == 201
        for answer in answers:
            assert (await call("check", "GET", f"/check/{answer['id']}")).status == 200
        assert (await call("check", "GET", f"/check/{answers[0]['id']}")).status == 200
        assert (await call("check", "GET", "/check/abcdefghijklmnopqrstuvwxyz")).status == 404
        assert (await call("none", "GET", "/no/such/endpoint")).status == 404
        assert (await call("none", "POST", "/check/x")).status == 405
        download = await call("download", "GET", f"/download/{answers[1]['id']}")
        assert download.body == bodies[1]
        assert (await call("download", "HEAD", f"/download/{answers[1]['id']}")).status == 200
        assert (await call("delete", "DELETE", answers[0]["linkfordelete"].removeprefix("http://h"))).status == 204
        pipe = app.connect()
        pipe.send(b"NOT HTTP AT ALL\r\n\r\n")  # refused before it is a request: no route, no method
        await settle()
        made[("none", "other", "400")] += 1

        found = await scrape(app)
        assert requests_counted(found) == made
        assert value(found, "uds_http_received_bytes_total") == received
        assert value(found, "uds_http_sent_bytes_total") == sent
        assert value(found, "uds_uploads_completed_total") == 3
        assert value(found, "uds_downloads_completed_total") == 1
        assert value(found, "uds_files_deleted_total") == 1
        assert value(found, "uds_files_expired_total") == 0
        assert value(found, "uds_stored_files") == 2
        assert value(found, "uds_stored_bytes") == len(bodies[1]) + len(b"put at the root")
        assert value(found, "uds_active_uploads") == value(found, "uds_active_downloads") == 0
        for route in ("upload", "check", "download", "none"):
            timed = sum(n for (r, method, _), n in made.items() if r == route and method != "other")
            assert value(found, "uds_http_request_duration_seconds_count", route=route) == timed
            assert value(found, "uds_http_request_duration_seconds_bucket", route=route, le="+Inf") == timed

        again = await scrape(app)  # the first scrape is counted once it is answered
        assert requests_counted(again) == made + Counter({("metrics", "GET", "200"): 1})

    run(main)


def test_files_the_janitor_removes_are_counted_as_expired() -> None:
    async def main() -> None:
        app = App()
        await upload(app, b"short-lived", Expires_In="10s")
        await upload(app, b"long-lived")
        await settle(11)
        assert await app.janitor.sweep() == 1
        found = await scrape(app)
        assert value(found, "uds_files_expired_total") == 1
        assert value(found, "uds_stored_files") == 1
        assert value(found, "uds_stored_bytes") == len(b"long-lived")

    run(main)


RATE = 100_000
BURST = 64 * 1024  # the default burst at this rate


def rated(setting: str) -> Config:
    """The default configuration with rate ``setting`` set to ``RATE``."""
    settings: dict[str, Any] = {setting: RATE}
    return Config(**settings)


@pytest.mark.parametrize("setting, limit", [
    ("download_rate", "connection"), ("client_download_rate", "client"), ("total_download_rate", "total"),
])
def test_the_time_downloads_wait_on_a_speed_limit_is_counted_by_its_kind(setting: str, limit: str) -> None:
    """A 300,000-byte download at 100,000 B/s waits (300,000 - burst) / rate
    seconds in all: the wait of the limit that holds it, none of the others."""
    async def main() -> None:
        app = App(rated(setting))
        await app.put("id-1", b"d" * 300_000, METADATA)
        reply = await slow(app, "GET", "/download/id-1")
        assert reply.status == 200 and len(reply.body) == 300_000
        found = await scrape(app)
        for kind in ("connection", "client", "total"):
            for direction in ("upload", "download"):
                waited = value(found, "uds_throttle_wait_seconds_total", limit=kind, direction=direction)
                expected = (300_000 - BURST) / RATE if (kind, direction) == (limit, "download") else 0.0
                assert waited == pytest.approx(expected, abs=1e-6), (kind, direction)

    run(main)


@pytest.mark.parametrize("setting, limit", [
    ("upload_rate", "connection"), ("client_upload_rate", "client"), ("total_upload_rate", "total"),
])
def test_the_time_uploads_wait_on_a_speed_limit_is_counted_by_its_kind(setting: str, limit: str) -> None:
    async def main() -> None:
        app = App(rated(setting))
        assert (await slow(app, "POST", "/upload/", b"u" * 250_000)).status == 201
        found = await scrape(app)
        assert value(found, "uds_throttle_wait_seconds_total", limit=limit, direction="upload") == pytest.approx(
            (250_000 - BURST) / RATE, abs=1e-6)
        assert value(found, "uds_throttle_wait_seconds_total", limit=limit, direction="download") == 0.0

    run(main)


def test_transfers_in_progress_are_active_until_they_end_whichever_way() -> None:
    async def main() -> None:
        app = App(Config(download_rate=10_000))
        await app.put("id-99", b"d" * 100_000, METADATA)
        downloading = app.connect()
        downloading.send(request("GET", "/download/id-99"))
        cut = app.connect()
        cut.send(request("GET", "/download/id-99"))
        uploading = app.connect()
        uploading.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + b"u" * 100)
        await settle(1)
        found = await scrape(app)
        assert value(found, "uds_active_downloads") == 2
        assert value(found, "uds_active_uploads") == 1
        cut.abort()  # a client goes away mid-download
        uploading.send(b"u" * 900)
        await settle(1)
        found = await scrape(app)
        assert value(found, "uds_active_downloads") == 1
        assert value(found, "uds_active_uploads") == 0
        assert value(found, "uds_uploads_completed_total") == 1
        await settle(10)
        [reply] = downloading.replies()
        assert len(reply.body) == 100_000
        found = await scrape(app)
        assert value(found, "uds_active_downloads") == 0
        assert value(found, "uds_downloads_completed_total") == 1  # not the one that was cut

    run(main)


def test_with_metrics_listen_only_the_operations_port_serves_metrics() -> None:
    async def main() -> None:
        config = Config(metrics_listen="127.0.0.1:9100")
        app = App(config)
        await upload(app, b"counted")
        hidden = await ask(app, "GET", "/metrics")
        assert hidden.status == 404 and hidden.json()["message"] == "no such endpoint"
        operations = build_operations_server(config, app.store, LoopClock(), app.ledger, app.metrics)

        async def ask_operations(method: str, path: str) -> Reply:
            pipe = Pipe(operations.protocol_factory())
            pipe.send(request(method, path))
            await settle()
            [reply] = pipe.replies(frozenset({0}) if method == "HEAD" else frozenset())
            return reply

        found = parse(await ask_operations("GET", "/metrics"))
        assert requests_counted(found) == {("upload", "POST", "201"): 1, ("metrics", "GET", "404"): 1}
        assert value(found, "uds_stored_files") == 1
        assert (await ask_operations("HEAD", "/metrics")).status == 200
        assert (await ask_operations("GET", "/healthz")).json() == {"status": 200, "message": "ok"}
        assert (await ask_operations("GET", "/check/id-1")).status == 404  # nothing else is served there
        assert (await ask(app, "GET", "/check/id-1")).status == 200
        refused = await ask_operations("POST", "/metrics")
        assert refused.status == 405 and refused.headers["allow"] == "GET, HEAD"
        found = parse(await ask_operations("GET", "/metrics"))
        assert requests_counted(found)[("metrics", "GET", "200")] == 1
        assert requests_counted(found)[("health", "GET", "200")] == 1

    run(main)


def test_a_resumable_upload_counts_its_requests_bytes_and_one_completed_upload() -> None:
    async def main() -> None:
        app = App(store=MemoryResumableStore())
        upload_id = await create(app, length=11)
        assert (await exchange(app, patch(upload_id, 0, b"hello "))).status == 204
        assert (await exchange(app, patch(upload_id, 6, b"world"))).status == 204
        found = await scrape(app)
        assert requests_counted(found) == {("tus", "POST", "201"): 1, ("tus", "PATCH", "204"): 2}
        assert value(found, "uds_http_received_bytes_total") == 11
        assert value(found, "uds_uploads_completed_total") == 1  # the appends complete one file
        assert value(found, "uds_active_uploads") == 0
        assert value(found, "uds_stored_files") == 1

    run(main)
