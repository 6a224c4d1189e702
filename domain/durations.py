"""Durations as people type them: ``7d``, ``12h``, ``30m``, ``45s``, ``1w``,
``1d12h`` or plain seconds (``90``), for ``--default-ttl``, ``--max-ttl`` and
the ``Expires-In`` header.

The parser reads at most ``MAX_DURATION_CHARS`` characters, ASCII digits only
(``str.isdigit`` would take ``"٣"`` and ``"²"``), each number at most
``MAX_GROUP_DIGITS`` digits long, so hostile input costs no more than a short
one and never reaches ``int()`` with thousands of digits. Zero is a valid
duration: what it means ("never expires") is the caller's decision.
"""

from __future__ import annotations

import math

MAX_DURATION_CHARS = 32
MAX_GROUP_DIGITS = 12
MAX_DURATION = 100 * 365 * 86400  # seconds: beyond this, dates overflow long before anyone cares
UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_ORDER = "wdhms"
_DIGITS = frozenset("0123456789")
_HELP = "use e.g. 7d, 12h, 30m, 45s, 1w, 1d12h or plain seconds; 0 means never"


def parse_duration(text: str) -> float:
    """Seconds in ``text``: plain ASCII digits (seconds), or one or more
    ``<digits><unit>`` groups with units ``w d h m s`` in that order, each at
    most once (``1d12h``, not ``12h1d`` nor ``1h1h``). Surrounding spaces and
    tabs are ignored; anything else (signs, fractions, inner whitespace, upper
    case units, other scripts' digits) raises ``ValueError`` with a message
    fit for the client or the operator. At most ``MAX_DURATION`` seconds."""
    if len(text) > MAX_DURATION_CHARS:
        raise ValueError(f"duration is longer than {MAX_DURATION_CHARS} characters ({_HELP})")
    value = text.strip(" \t")
    if not value:
        raise ValueError(f"duration is empty ({_HELP})")
    total = 0
    digits = ""
    last_unit = -1
    for char in value:
        if char in _DIGITS:
            if len(digits) >= MAX_GROUP_DIGITS:
                raise ValueError(f"{text!r}: a number has more than {MAX_GROUP_DIGITS} digits")
            digits += char
            continue
        unit = _UNIT_ORDER.find(char)
        if unit < 0:
            raise ValueError(f"{text!r} is not a duration ({_HELP})")
        if not digits:
            raise ValueError(f"{text!r}: unit {char!r} has no number before it ({_HELP})")
        if unit <= last_unit:
            raise ValueError(f"{text!r}: units must come once each, largest first (w d h m s)")
        total += int(digits) * UNIT_SECONDS[char]
        digits = ""
        last_unit = unit
    if digits:
        if last_unit >= 0:
            raise ValueError(f"{text!r}: the last number has no unit ({_HELP})")
        total = int(digits)
    if total > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION // (365 * 86400)} years")
    return float(total)


def format_duration(seconds: float) -> str:
    """``seconds`` rounded to whole seconds, written as ``parse_duration``
    reads it (``1d12h``, ``45s``, ``0s``), for logs. Weeks are written as days.
    Negative values get a ``-`` sign; infinity and NaN are written as such."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    rest = round(seconds)
    parts = []
    for unit in "dhms":
        count, rest = divmod(rest, UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
