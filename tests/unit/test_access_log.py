from __future__ import annotations

import asyncio
import io
import logging
import re

from adapters.http.access_log import NAME, AccessLog


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
        assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO uds\.access: '
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
