"""``X-Request-Id`` in-process: echoed when sane, generated otherwise, on
every answer (errors, refusals and CORS preflights included), and the same id
in the request's access line and in the log records made while handling it."""

from __future__ import annotations

import io
import json
import logging
from typing import Iterator

import pytest

from adapters.http.access_log import JsonAccessLog, JsonLogFormatter
from config import Config
from tests.inproc import App, Pipe, Reply, run, settle


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: h\r\n" + "".join(f"{h}\r\n" for h in headers)
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def logged_app(config: Config = Config()) -> tuple[App, io.StringIO]:
    app = App(config)
    stream = io.StringIO()
    log = app.server.access_log = JsonAccessLog(stream)
    log.enabled = True
    return app, stream


async def exchange(pipe: Pipe, *requests: bytes) -> list[Reply]:
    for data in requests:
        pipe.send(data)
    await settle()
    return pipe.replies(frozenset(i for i, data in enumerate(requests) if data.startswith(b"HEAD ")))


@pytest.fixture
def routes_records() -> Iterator[io.StringIO]:
    """The service's other log records (``uds.*``) at INFO, formatted as
    with ``--log-format json``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("uds")
    before = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def test_ids_are_echoed_or_generated_on_every_answer_and_logged(routes_records: io.StringIO) -> None:
    async def main() -> None:
        app, stream = logged_app()
        pipe = app.connect()
        replies = await exchange(
            pipe,
            request("POST", "/upload/a.txt", "X-Request-Id: upload-1", body=b"hello"),
            request("GET", "/check/id-1", "X-Request-Id: f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
            request("GET", "/check/missing"),
            request("GET", "/no/such/endpoint", "X-Request-Id: " + "x" * 129),
            request("PATCH", "/check/id-1", "X-Request-Id: a b"),
            request("GET", "/download/id-1", "X-Request-Id: caf\xe9"),
            request("HEAD", "/healthz", "X-Request-Id: one", "X-Request-Id: two"),
        )
        assert [r.status for r in replies] == [201, 200, 404, 404, 405, 200, 200]
        ids = [r.headers["x-request-id"] for r in replies]
        assert ids[:2] == ["upload-1", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]
        generated = ids[2:]
        assert all(len(i) == 16 and int(i, 16) >= 0 for i in generated), generated
        assert len(set(generated)) == len(generated)
        app.server.access_log.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(line["request_id"], line["method"], line["path"], line["status"]) for line in lines] == [
            (ids[0], "POST", "/upload/a.txt", 201), (ids[1], "GET", "/check/id-1", 200),
            (ids[2], "GET", "/check/missing", 404), (ids[3], "GET", "/no/such/endpoint", 404),
            (ids[4], "PATCH", "/check/id-1", 405), (ids[5], "GET", "/download/id-1", 200),
            (ids[6], "HEAD", "/healthz", 200),
        ]
        assert lines[0]["bytes_in"] == 5 and lines[0]["bytes_out"] == len(replies[0].body)
        assert lines[5]["bytes_out"] == 5 and lines[5]["bytes_in"] == 0
        # The upload's "stored ..." record was made while it was handled: it carries its id.
        [stored] = [json.loads(line) for line in routes_records.getvalue().splitlines()
                    if json.loads(line)["message"].startswith("stored id-1")]
        assert stored["request_id"] == "upload-1" and stored["logger"] == "uds.routes"

    run(main)


def test_refusals_and_preflights_carry_an_id_too() -> None:
    async def main() -> None:
        app, stream = logged_app(Config(cors_origin=("https://app.example",)))
        pipe = app.connect()
        [preflight, actual] = await exchange(
            pipe,
            request("OPTIONS", "/upload/", "Origin: https://app.example", "Access-Control-Request-Method: PUT",
                    "X-Request-Id: pre-1"),
            request("GET", "/check/x", "Origin: https://app.example"),
        )
        assert preflight.status == 204 and preflight.headers["x-request-id"] == "pre-1"
        assert actual.status == 404 and len(actual.headers["x-request-id"]) == 16
        assert "X-Request-Id" in actual.headers["access-control-expose-headers"].split(", ")
        bad = app.connect()
        [refused] = await exchange(bad, b"GET /check/x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")
        assert refused.status == 400
        app.server.access_log.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert lines[-1]["request_id"] == refused.headers["x-request-id"] and lines[-1]["status"] == 400
        assert lines[0]["request_id"] == "pre-1" and lines[0]["method"] == "OPTIONS"

    run(main)
