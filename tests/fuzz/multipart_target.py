"""The fuzz target for the sans-I/O multipart/form-data parser, shared by the
bounded run in the test suite (hypothesis) and the long coverage-guided run
(atheris, ``python -m tests.fuzz.multipart_fuzz``).

One input is a boundary, a body, how the network cut it into reads and the
largest ``PartData`` the route asks for. The parser runs on small limits (so
every limit is reachable by a fuzzer) and must, for any input:

- raise nothing but ``MultipartError`` (status 400, with a message), and keep
  raising it once raised;
- always make progress (no event loop without consuming bytes), and never
  ask for data after EOF;
- hold at most ``high_water`` bytes whenever it asks for data, and never more
  than that plus the latest read;
- hand out events in order: ``PartStart``, non-empty ``PartData`` of at most
  ``max_data`` bytes, ``PART_END``, ..., ``END``;
- give the same complete parts and the same outcome (end or error) however
  the body is cut into reads and whatever ``max_data`` is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from adapters.http.multipart import (
    END,
    NEED_DATA,
    PART_END,
    MultipartError,
    MultipartParser,
    PartData,
    PartStart,
)

LIMITS = {"max_part_header_bytes": 160, "max_parts": 4, "max_preamble_bytes": 96, "max_padding": 8}
NO_LIMIT = 1 << 30
FUZZ_BOUNDARIES = [b"B", b"x-1", b"a b", b"'()+_,-./:=?"]


@dataclass
class Part:
    start: PartStart
    data: bytearray = field(default_factory=bytearray)
    complete: bool = False


@dataclass
class Outcome:
    parts: list[Part] = field(default_factory=list)
    end: str = "need data"  # "end" or "error"

    def summary(self) -> list[object]:
        # Only complete parts: how much of a part's content came out before an
        # error depends on the reads (the error may be found in one read
        # before the content in front of it is handed out).
        return [(p.start, bytes(p.data)) for p in self.parts if p.complete] + [self.end]


def parse(boundary: bytes, data: bytes, cuts: Sequence[int], max_data: int) -> Outcome:
    """Feed ``data`` cut at the offsets ``cuts`` (modulo its length + 1),
    then EOF; collect events, checking each on the way."""
    parser = MultipartParser(boundary, **LIMITS)
    outcome = Outcome()
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts} - {0, len(data)}) + [len(data)]:
        before = parser.buffered
        parser.feed(data[start:cut])
        assert parser.buffered <= before + cut - start
        start = cut
        if not drain(parser, outcome, max_data, len(data), False):
            return outcome
    parser.feed_eof()
    drain(parser, outcome, max_data, len(data), True)
    assert outcome.end != "need data"
    return outcome


def drain(parser: MultipartParser, outcome: Outcome, max_data: int, fed: int, eof: bool) -> bool:
    """Take events until the parser needs data (True) or the body ended (False)."""
    # Every event but PART_END and END consumes at least one byte, and each
    # PART_END follows a PartStart, which consumed its headers.
    for _ in range(2 * fed + 4):
        before = parser.buffered
        try:
            event = parser.next_event(max_data)
        except MultipartError as exc:
            assert exc.status == 400 and exc.message, exc
            try:
                parser.next_event(max_data)
            except MultipartError:
                pass
            else:
                raise AssertionError("the parser went on after an error")
            outcome.end = "error"
            return False
        assert 0 <= parser.buffered <= before
        if event is NEED_DATA:
            assert not eof, "NEED_DATA after EOF"
            assert parser.buffered <= parser.high_water, (parser.buffered, parser.high_water)
            return True
        if event is END:
            assert not outcome.parts or outcome.parts[-1].complete, "END inside a part"
            assert parser.next_event(max_data) is END and parser.buffered == 0
            outcome.end = "end"
            return False
        take(outcome, event, max_data)
    raise AssertionError("the parser made no progress")


def take(outcome: Outcome, event: object, max_data: int) -> None:
    current = outcome.parts[-1] if outcome.parts else None
    if isinstance(event, PartStart):
        assert current is None or current.complete, "a part inside another part"
        assert event.headers.get("content-type") == event.content_type
        outcome.parts.append(Part(event))
    elif isinstance(event, PartData):
        assert current is not None and not current.complete, "data outside a part"
        assert 0 < len(event.data) <= max_data
        current.data += event.data
    else:
        assert event is PART_END, event
        assert current is not None and not current.complete, "PART_END outside a part"
        current.complete = True


def check(boundary: bytes, data: bytes, cuts: Sequence[int], max_data: int) -> None:
    """The whole property: checks hold for one-shot, cut and byte-by-byte
    feeding, and all tell the same story."""
    whole = parse(boundary, data, [], NO_LIMIT)
    pieces = parse(boundary, data, cuts, max_data)
    assert pieces.summary() == whole.summary(), (whole.summary(), pieces.summary())
    # Byte by byte: every delimiter line is cut at every point (a random cut
    # rarely falls on the one byte that matters).
    bytewise = parse(boundary, data, range(len(data)), NO_LIMIT)
    assert bytewise.summary() == whole.summary(), (whole.summary(), bytewise.summary())


def decode(blob: bytes) -> tuple[bytes, bytes, list[int], int]:
    """One fuzzer input as (boundary, body, cut offsets, max_data): the first
    byte picks the boundary, the second ``max_data`` (1..255, or 0 =
    unlimited), the third how many two-byte cut offsets follow; the rest is
    the body."""
    if len(blob) < 3:
        return FUZZ_BOUNDARIES[0], blob, [], NO_LIMIT
    boundary = FUZZ_BOUNDARIES[blob[0] % len(FUZZ_BOUNDARIES)]
    max_data = blob[1] or NO_LIMIT
    count = min(blob[2], 16)
    raw_cuts = blob[3:3 + 2 * count]
    cuts = [int.from_bytes(raw_cuts[i:i + 2], "big") for i in range(0, len(raw_cuts) - 1, 2)]
    data = blob[3 + 2 * count:]
    return boundary, data, [c % (len(data) + 1) for c in cuts], max_data


def check_encoded(blob: bytes) -> None:
    boundary, data, cuts, max_data = decode(blob)
    check(boundary, data, cuts, max_data)
