from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import Iterator

import pytest

from adapters.http.access_log import (
    JSON_ACCESS_KEYS,
    NAME,
    AccessLog,
    JsonAccessLog,
    JsonLogFormatter,
    LogFormatter,
)
from adapters.http.request_id import CURRENT

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_lines_are_batched_per_loop_iteration_and_formatted_like_logging() -> None:
    stream = io.StringIO()

    async def scenario() -> None:
        log = AccessLog(stream)
        log.enabled = True
        log.request("127.0.0.1:5", "GET", "/check/x", "1.1", 200, 227, 0.0015, request_id="5f3a9c0d00000001")
        log.write('127.0.0.1:6 "-" 400 0 - bad request')
        assert stream.getvalue() == ""  # not yet: written once the loop turns
        await asyncio.sleep(0)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 2
        assert re.fullmatch(STAMP + r' INFO uds\.access: '
                            r'127\.0\.0\.1:5 "GET /check/x HTTP/1\.1" 200 227 1\.5ms request_id=5f3a9c0d00000001',
                            lines[0]), lines[0]
        assert lines[1].endswith('127.0.0.1:6 "-" 400 0 - bad request')

    asyncio.run(scenario())


def test_enabled_follows_the_logger_level() -> None:
    logger = logging.getLogger(NAME)
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)
        stream = io.StringIO()
        log = AccessLog(stream)
        assert not log.enabled
        log.request("p", "GET", "/", "1.1", 200, 0, 0.0)
        log.flush()
        assert stream.getvalue() == ""
        logger.setLevel(logging.INFO)
        assert AccessLog(stream).enabled
    finally:
        logger.setLevel(before)


def test_without_a_loop_it_writes_at_once_and_a_broken_stream_is_ignored() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.enabled = True
    log.write("line")
    assert stream.getvalue().endswith("line\n")
    stream.close()
    log.write("after close")  # must not raise


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """Local time five hours behind UTC, so a local timestamp shows."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "EST+05"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def stamp_of(line: str) -> datetime:
    match = re.match(STAMP, line)
    assert match, line
    return datetime.strptime(match.group(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_access_log_timestamps_are_utc_with_the_zone(far_from_utc: None) -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.enabled = True
    log.write("line")
    assert abs((stamp_of(stream.getvalue()) - datetime.now(timezone.utc)).total_seconds()) < 5, stream.getvalue()


def test_other_log_lines_have_the_same_utc_timestamps(far_from_utc: None) -> None:
    record = logging.LogRecord("uds.lifecycle", logging.INFO, __file__, 1, "stopped %s", ("now",), None)
    line = LogFormatter().format(record)
    assert re.fullmatch(STAMP + " INFO uds.lifecycle: stopped now", line), line
    assert abs((stamp_of(line) - datetime.now(timezone.utc)).total_seconds()) < 5, line


@pytest.mark.parametrize("target, logged", [
    ('/check/x" 200 0 0.1ms\n127.0.0.1:1 "GET /forged', "/check/x\\x22 200 0 0.1ms\\x0A127.0.0.1:1 \\x22GET /forged"),
    ("/a\\b", "/a\\x5Cb"),
    ("/caf\xe9\x7f\x00", "/caf\\xE9\\x7F\\x00"),
    ("/plain?q=1&r=%22", "/plain?q=1&r=%22"),
])
def test_quotes_backslashes_and_unprintable_characters_are_escaped(target: str, logged: str) -> None:
    """A '"' in the target closed the quoted request early, so a reader of
    the log could be shown a forged field; escaped as nginx does (\\xHH)."""
    stream = io.StringIO()
    log = AccessLog(stream)
    log.enabled = True
    log.request("127.0.0.1:5", "GET", target, "1.1", 404, 10, 0.001)
    line = stream.getvalue()
    assert line.count("\n") == 1 and f'"GET {logged} HTTP/1.1" 404 10 ' in line, line


# -- --log-format json ------------------------------------------------------------------------------

HOSTILE_TARGET = '/check/x"}\n{"status": 200, "forged": "\\u0000\x00\x7f\u2028\ud800caf\xe9'
HOSTILE_AGENT = 'curl/8" , "status": 999}\r\n{"level": "ERROR"\x1b[31m\u202e'


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.isascii(), text  # ensure_ascii: nothing a terminal or a log shipper could misread
    return [json.loads(line) for line in text.splitlines()]


def test_a_json_access_line_has_every_field_and_survives_hostile_strings() -> None:
    stream = io.StringIO()
    log = JsonAccessLog(stream)
    log.enabled = True
    log.request("203.0.113.7", "GET", HOSTILE_TARGET, "1.1", 404, 61, 0.0015, via="10.0.0.1:4000",
                request_id="5f3a9c0d00000001", received=12, user_agent=HOSTILE_AGENT)
    log.request("127.0.0.1:5", "HEAD", "/healthz", "1.0", 200, 0, 0.25)
    first, second = json_lines(stream)
    assert list(first) == list(JSON_ACCESS_KEYS)
    assert re.fullmatch(STAMP, str(first["time"])), first
    assert abs((stamp_of(str(first["time"])) - datetime.now(timezone.utc)).total_seconds()) < 5
    assert first == {**first, "level": "INFO", "logger": "uds.access", "request_id": "5f3a9c0d00000001",
                     "method": "GET", "path": HOSTILE_TARGET, "version": "1.1", "status": 404, "bytes_in": 12,
                     "bytes_out": 61, "duration": 0.0015, "client": "203.0.113.7", "user_agent": HOSTILE_AGENT,
                     "via": "10.0.0.1:4000"}
    assert second == {**second, "method": "HEAD", "path": "/healthz", "version": "1.0", "status": 200,
                      "bytes_in": 0, "bytes_out": 0, "duration": 0.25, "user_agent": None, "via": None,
                      "request_id": ""}


def test_a_json_refusal_line() -> None:
    stream = io.StringIO()
    log = JsonAccessLog(stream)
    log.enabled = True
    log.refusal("127.0.0.1:6", 400, 'bad "request"\n', "5f3a9c0d00000002")
    [line] = json_lines(stream)
    assert line == {**line, "level": "INFO", "logger": "uds.access", "request_id": "5f3a9c0d00000002",
                    "status": 400, "bytes_in": 0, "bytes_out": 0, "client": "127.0.0.1:6",
                    "message": 'bad "request"\n'}


def test_the_text_access_line_carries_the_request_id_before_the_proxy() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.enabled = True
    log.request("198.51.100.7", "GET", "/check/x", "1.1", 200, 227, 0.0015, "10.0.0.1:4000", "5f3a9c0d00000001")
    log.refusal("127.0.0.1:6", 408, "request header timeout", "5f3a9c0d00000002")
    first, second = stream.getvalue().splitlines()
    assert first.endswith('198.51.100.7 "GET /check/x HTTP/1.1" 200 227 1.5ms request_id=5f3a9c0d00000001 '
                          'via 10.0.0.1:4000'), first
    assert second.endswith('127.0.0.1:6 "-" 408 0 - request header timeout request_id=5f3a9c0d00000002'), second


def record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("uds.routes", logging.WARNING, __file__, 1, message, args,
                             exc_info)  # type: ignore[arg-type]


def test_other_records_as_json_with_the_request_id_of_the_request_being_handled(far_from_utc: None) -> None:
    formatter = JsonLogFormatter()
    outside = json.loads(formatter.format(record("stored %s %r", "id-1", 'a"b\n\u2028')))
    assert list(outside) == ["time", "level", "logger", "message"]
    assert outside["level"] == "WARNING" and outside["logger"] == "uds.routes"
    assert outside["message"] == "stored id-1 " + repr('a"b\n\u2028')
    assert abs((stamp_of(str(outside["time"])) - datetime.now(timezone.utc)).total_seconds()) < 5
    token = CURRENT.set("5f3a9c0d00000003")
    try:
        inside = json.loads(formatter.format(record("stored")))
        text = LogFormatter().format(record("stored"))
    finally:
        CURRENT.reset(token)
    assert inside["request_id"] == "5f3a9c0d00000003"
    assert text.endswith("WARNING uds.routes: stored request_id=5f3a9c0d00000003"), text


def test_a_json_record_keeps_the_exception_on_its_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        line = JsonLogFormatter().format(record("error handling %s", "/x", exc_info=sys.exc_info()))
    assert "\n" not in line and line.isascii()
    entry = json.loads(line)
    assert entry["message"] == "error handling /x"
    assert "Traceback" in entry["exception"] and "ValueError: boom\nsecond line" in entry["exception"]
