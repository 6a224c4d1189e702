from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import time
from datetime import datetime, timezone
from typing import Iterator

import pytest

from adapters.http.access_log import NAME, AccessLog, LogFormatter

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_lines_are_batched_per_loop_iteration_and_formatted_like_logging() -> None:
    stream = io.StringIO()

    async def scenario() -> None:
        log = AccessLog(stream)
        log.enabled = True
        log.request("127.0.0.1:5", "GET", "/check/x", "1.1", 200, 227, 0.0015)
        log.write('127.0.0.1:6 "-" 400 0 - bad request')
        assert stream.getvalue() == ""  # not yet: written once the loop turns
        await asyncio.sleep(0)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 2
        assert re.fullmatch(STAMP + r' INFO uds\.access: '
                            r'127\.0\.0\.1:5 "GET /check/x HTTP/1\.1" 200 227 1\.5ms', lines[0]), lines[0]
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
