"""Content negotiation on ``Accept`` (RFC 9110 12.5.1), sans-I/O: which of
the media types an answer can take the client prefers.

The value is read in one pass (a comma or semicolon inside a quoted string
does not split), and only its first ``MAX_ELEMENTS`` media ranges count, so
a hostile header costs time linear in its length and nothing more.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

MAX_ELEMENTS = 64
# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")
MediaType = tuple[str, str, dict[str, str]]


def choose(accept: str | None, offers: Sequence[str]) -> str:
    """The offer (a media type such as ``text/plain; charset=utf-8``) that
    ``accept`` gives the highest q-value. Ties go to the earlier offer, so the
    first one is the default: without ``Accept``, for ``*/*``, for equal
    q-values, and also when every offer has q=0 (answering in the default
    type rather than ``406`` is what RFC 9110 12.5.1 allows)."""
    if not accept:
        return offers[0]
    ranges = list(_ranges(accept))
    best, best_q = offers[0], -1.0
    for offer in offers:
        q = _quality(ranges, _media_type(offer))
        if q > best_q:
            best, best_q = offer, q
    return best


def _quality(ranges: list[tuple[MediaType, float]], offer: MediaType) -> float:
    """The q of the most specific range that matches ``offer`` (type/subtype
    with parameters, type/subtype, type/*, */*); 0 when none does."""
    kind, subtype, params = offer
    best_rank, best_q = -1, 0.0
    for (range_kind, range_subtype, range_params), q in ranges:
        if range_params and any(params.get(name) != value for name, value in range_params.items()):
            continue
        if (range_kind, range_subtype) == (kind, subtype):
            rank = 2 + bool(range_params)
        elif range_kind == kind and range_subtype == "*":
            rank = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > best_rank:
            best_rank, best_q = rank, q
    return best_q


def _media_type(text: str) -> MediaType:
    """Type, subtype and parameters, lowercased (values unquoted; a charset
    compares case-insensitively, and so do the others here)."""
    pieces = list(_split(text, ";"))
    kind, _, subtype = pieces[0].strip().lower().partition("/")
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        if eq:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[name.strip().lower()] = value.lower()
    return kind, subtype, params


def _ranges(accept: str) -> Iterator[tuple[MediaType, float]]:
    """The media ranges of an ``Accept`` value with their q-values; malformed
    elements (no ``type/subtype``, a bad ``q``) are left out."""
    for count, element in enumerate(_split(accept, ",")):
        if count == MAX_ELEMENTS:
            return
        if not element.strip():
            continue
        # The weight ends the media type's parameters (RFC 9110 12.5.1).
        head, q_text = _cut_weight(element)
        if q_text is not None and not QVALUE.match(q_text):
            continue
        kind, subtype, params = _media_type(head)
        if not kind or not subtype or "/" in subtype:
            continue
        yield (kind, subtype, params), 1.0 if q_text is None else float(q_text)


def _cut_weight(element: str) -> tuple[str, str | None]:
    """The element before its ``;q=`` parameter, and that parameter's value."""
    at = 0
    for piece in _split(element, ";"):
        name, eq, value = piece.partition("=")
        if at and eq and name.strip().lower() == "q":
            return element[:at - 1], value.strip()
        at += len(piece) + 1
    return element, None


def _split(text: str, separator: str) -> Iterator[str]:
    """``text`` cut at each ``separator`` outside a quoted string. Linear:
    each character is looked at once (a backslash escapes the next one
    inside quotes)."""
    if '"' not in text:
        yield from text.split(separator)
        return
    start = 0
    quoted = escaped = False
    for at, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            yield text[start:at]
            start = at + 1
    yield text[start:]
