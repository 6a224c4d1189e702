"""The fuzz target for the sans-I/O request parser, shared by the bounded run in
the test suite (hypothesis) and the long coverage-guided run (atheris).

One input is a byte stream a client might send, how the network cut it into
reads, and the largest ``Data`` event the server asks for. The parser runs on
small limits (so 414/431 and long chunk lines are reachable by a fuzzer) and
must, for any input:

- raise nothing but ``ParseError`` (with a 4xx/5xx status) or
  ``IncompleteMessage``, and keep raising ``ParseError`` once framing is lost;
- always make progress (no event loop without consuming bytes);
- hand out only well-formed requests: a token method, a path that starts with
  ``/`` (or is ``*``), version 1.0 or 1.1, lowercase header names, never both a
  length and chunked, a non-empty host (always, in HTTP/1.1), and exactly ``Content-Length``
  bytes of body for a length-delimited message;
- give the same requests, bodies and outcome (closed, incomplete, or refused)
  however the stream is cut into reads and whatever ``max_data`` is: anything
  else means a request's meaning depends on TCP segmentation, the root of
  request smuggling. (Which 4xx refuses an invalid stream may differ.)

``check_linear`` holds parsing time linear in the input: a run of one
padding (whitespace, token bytes, delimiters) inserted anywhere, 8 times
longer, may cost about 8 times the time, not 64 (a backtracking regex was
once quadratic in a run of spaces inside a header value).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Sequence

from adapters.http.parser import (
    CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    IncompleteMessage,
    ParseError,
    Request,
    RequestParser,
)
from adapters.http.request_head import _checked_fields, _fast_fields

LIMITS = {"max_request_line": 32, "max_header_bytes": 64, "max_headers": 6, "max_chunk_line": 16}
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
NO_LIMIT = 1 << 30
# Runs inserted by ``check_linear``: whitespace, token and hex bytes, and the
# delimiters of header fields, parameters, quoted strings and chunk lines.
PADS = [b" ", b"\t", b" \t", b"a", b"0", b":", b";", b"=", b",", b'"', b"\\", b"\r\n", b"\n", b"\r", b"\x00"]
LINEAR_PAD = 2048  # bytes of padding, and 8 times that


@dataclass
class Message:
    request: Request
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False


@dataclass
class Outcome:
    """Everything the parser said about one stream."""

    messages: list[Message] = field(default_factory=list)
    end: str = "need data"  # "closed", "incomplete", "error <status>" or "need data"

    def summary(self) -> list[object]:
        # Only the kind of error: the same invalid bytes may be refused for
        # different reasons, e.g. 414 for a request line that is still too
        # long while it arrives, but 400 for a control character in it when
        # the whole head is there at once. Refused either way is what counts.
        return [(m.request, bytes(m.body), m.complete) for m in self.messages] + [self.end.split()[0]]


def parse(data: bytes, cuts: Sequence[int], max_data: int) -> Outcome:
    """Feed ``data`` cut at the offsets ``cuts``, then EOF; collect events,
    checking each on the way."""
    parser = RequestParser(**LIMITS)
    outcome = Outcome()
    start = 0
    for cut in sorted({c for c in cuts if 0 < c < len(data)}) + [len(data)]:
        parser.feed(data[start:cut])
        start = cut
        if not drain(parser, outcome, max_data, len(data)):
            return outcome
    parser.feed_eof()
    drain(parser, outcome, max_data, len(data))
    return outcome


def drain(parser: RequestParser, outcome: Outcome, max_data: int, fed: int) -> bool:
    """Take events until the parser needs data (True) or the stream ended (False)."""
    # Every event consumes at least one byte or ends a message, and a message
    # has at least one byte, so there cannot be more than 2 events per byte.
    for _ in range(2 * fed + 4):
        before = parser.buffered
        try:
            event = parser.next_event(max_data)
        except IncompleteMessage:
            outcome.end = "incomplete"
            return False
        except ParseError as exc:
            assert 400 <= exc.status <= 599 and exc.message, exc
            try:
                parser.next_event(max_data)
            except ParseError:
                pass
            else:
                raise AssertionError("the parser went on after losing the framing")
            outcome.end = f"error {exc.status}"
            return False
        assert 0 <= parser.buffered <= before
        if event is NEED_DATA:
            # The transport times a partial head with the header timeout.
            assert parser.at_message_start or not parser.has_partial_head
            return True
        if event is CLOSED:
            assert not outcome.messages or outcome.messages[-1].complete, "CLOSED inside a message"
            outcome.end = "closed"
            return False
        take(outcome, event, max_data)
    raise AssertionError("the parser made no progress")


def take(outcome: Outcome, event: object, max_data: int) -> None:
    current = outcome.messages[-1] if outcome.messages else None
    if isinstance(event, Request):
        assert current is None or current.complete, "a request inside another request's body"
        check_request(event)
        outcome.messages.append(Message(event))
    elif isinstance(event, Data):
        assert current is not None and not current.complete, "body data outside a message"
        assert 0 < len(event.data) <= max_data
        current.body += event.data
        length = current.request.content_length
        assert length is None or len(current.body) <= length, "more body than Content-Length"
    else:
        assert event is END_OF_MESSAGE, event
        assert current is not None and not current.complete, "END_OF_MESSAGE outside a message"
        length = current.request.content_length
        if not current.request.chunked:
            assert len(current.body) == (length or 0), "length-delimited body of the wrong size"
        if not current.request.has_body:  # the transport takes such a body as done before reading
            assert not current.body
        current.complete = True


def check_request(request: Request) -> None:
    assert TOKEN.match(request.method), request.method
    assert request.path.startswith("/") or request.path == "*", request.path
    assert request.version in ("1.0", "1.1")
    assert all(name == name.lower() and TOKEN.match(name) for name in request.headers)
    assert not (request.chunked and request.content_length is not None)
    assert request.content_length is None or request.content_length >= 0
    if request.version == "1.1":
        assert request.host is not None
    assert request.host != "", "an empty host"
    for value in request.headers.values():
        assert "\r" not in value and "\n" not in value and "\x00" not in value


def check_head_paths(data: bytes) -> None:
    """The parser's fast head path never accepts what the line-by-line path
    refuses, nor reads an accepted head differently."""
    end = data.find(b"\n\r\n")
    end = end if end >= 0 else data.find(b"\n\n")
    head = data[:end] if end >= 0 else data
    fast = _fast_fields(head)
    try:
        checked = _checked_fields(head)
    except ParseError:
        assert fast is None, (head, fast)
        return
    assert fast is None or fast == checked, (head, fast, checked)


def check(data: bytes, cuts: Sequence[int], max_data: int) -> None:
    """The whole property: checks hold for one-shot and cut feeding, and both
    tell the same story."""
    check_head_paths(data)
    whole = parse(data, [], NO_LIMIT)
    pieces = parse(data, cuts, max_data)
    assert pieces.summary() == whole.summary(), (whole.summary(), pieces.summary())


def decode(blob: bytes) -> tuple[bytes, list[int], int]:
    """One fuzzer input as (stream, cut offsets, max_data): the first byte
    picks ``max_data`` (1..255, or 0 = unlimited) and the next byte how many
    two-byte cut offsets follow; the rest is the stream."""
    if len(blob) < 2:
        return blob, [], NO_LIMIT
    max_data = blob[0] or NO_LIMIT
    count = min(blob[1], 16)
    raw_cuts = blob[2:2 + 2 * count]
    cuts = [int.from_bytes(raw_cuts[i:i + 2], "big") for i in range(0, len(raw_cuts) - 1, 2)]
    data = blob[2 + 2 * count:]
    return data, [c % (len(data) + 1) for c in cuts], max_data


def check_encoded(blob: bytes) -> None:
    """``check``, and for one input in 16 (it costs a few milliseconds)
    ``check_linear`` at the first cut offset with a pad picked by max_data."""
    data, cuts, max_data = decode(blob)
    check(data, cuts, max_data)
    if cuts and len(blob) % 16 == 0:
        check_linear(data, cuts[0], PADS[max_data % len(PADS)])


def parse_seconds(data: bytes, repeat: int = 3) -> float:
    """The shortest of ``repeat`` runs of feeding ``data`` at once, then EOF,
    to the parser with its production limits, taking events until it stops."""
    best = float("inf")
    for _ in range(repeat):
        parser = RequestParser()
        began = time.perf_counter()
        parser.feed(data)
        parser.feed_eof()
        try:
            for _ in range(2 * len(data) + 4):
                if parser.next_event(NO_LIMIT) in (NEED_DATA, CLOSED):
                    break
        except (ParseError, IncompleteMessage):
            pass
        best = min(best, time.perf_counter() - began)
    return best


def check_linear(data: bytes, at: int, pad: bytes) -> None:
    """Parsing ``data`` with ``pad`` repeated to 8 * LINEAR_PAD bytes at
    offset ``at`` costs at most about 8 times (generously: 24 times, plus a
    few milliseconds of noise) what LINEAR_PAD bytes of it cost; a
    quadratic parser pays 64 times."""
    at = min(at, len(data))

    def padded(size: int) -> bytes:
        return data[:at] + pad * (size // len(pad)) + data[at:]

    small = parse_seconds(padded(LINEAR_PAD))
    large = parse_seconds(padded(8 * LINEAR_PAD))
    assert large < 24 * small + 0.003, (data, at, pad, small, large)
