"""Sans-I/O helpers for the header fields the routes read and write:
Content-Disposition (RFC 6266 / 8187), Range (RFC 9110 14), entity tags."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote

# -- Content-Disposition --------------------------------------------------------

# One parameter from a ';' on: ``; name = value`` (RFC 9110 5.6.6), matched
# only where the scan below stands, never searched for: a regex searched from
# every position of a run of whitespace is quadratic in its length.
_PARAM_NAME = re.compile(r"[ \t]*;[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*")
_TOKEN_VALUE = re.compile(r"[^; \t]*")
_QUOTED_VALUE = re.compile(r'"((?:[^"\\]|\\.)*+)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_EXT_VALUE = re.compile(r"([!#$&+\-.^_`|~0-9A-Za-z]*)'[^']*'(.*)\Z", re.DOTALL)


def _parameters(value: str, at: int) -> dict[str, str]:
    """The parameters of a header value from its first ';' at ``at``, names
    lowercased, the first of a repeated name kept. A malformed parameter is
    skipped up to the next ';'; an unterminated quoted string ends the scan
    (everything after it is inside it). Linear: every character is looked
    at a bounded number of times."""
    params: dict[str, str] = {}
    while at >= 0:
        match = _PARAM_NAME.match(value, at)
        if match is None:
            at = value.find(";", at + 1)
            continue
        name, at = match.group(1).lower(), match.end()
        if value.startswith('"', at):
            quoted = _QUOTED_VALUE.match(value, at)
            if quoted is None:
                break
            raw = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
            at = quoted.end()
        else:
            token = _TOKEN_VALUE.match(value, at)
            assert token is not None  # it matches the empty string
            raw, at = token.group(), token.end()
        params.setdefault(name, raw)
        at = value.find(";", at)
    return params


def disposition_filename(value: str) -> str | None:
    """The file name of a Content-Disposition value: ``filename*`` (RFC 8187,
    UTF-8 or ISO-8859-1) wins over ``filename``. ``None`` when there is none
    or it cannot be decoded. The disposition type itself is not checked:
    clients send ``attachment``, ``inline`` and ``form-data`` alike."""
    semicolon = value.find(";")
    if semicolon < 0:
        return None
    params = _parameters(value, semicolon)
    extended = params.get("filename*")
    if extended is not None:
        ext = _EXT_VALUE.match(extended)
        if ext is not None:
            charset = ext.group(1).lower()
            if charset in ("utf-8", "iso-8859-1"):
                try:
                    return unquote(ext.group(2), encoding=charset, errors="strict")
                except UnicodeDecodeError:
                    pass
    plain = params.get("filename")
    if plain is not None:
        # Browsers send raw UTF-8 in a quoted filename; the parser gave us
        # latin-1 code points, so recover the UTF-8 when it is one.
        try:
            return plain.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return plain
    return None


def attachment(name: str) -> str:
    """``attachment`` with a quoted ASCII fallback and the exact UTF-8 name
    percent-encoded in ``filename*``. Quotes, backslashes, control and
    non-ASCII characters never appear raw."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# -- Range ------------------------------------------------------------------------


class Unsatisfiable:
    """The Range header asks only for bytes past the end."""


UNSATISFIABLE: Final = Unsatisfiable()
# A byte position of more than 18 digits (after leading zeros) is past the
# end of any file: uploads are refused above 18 digits of Content-Length.
# Such numbers are never converted: int() of more than 4,300 digits raises
# ValueError, and below that costs time quadratic in the digits.
MAX_POSITION_DIGITS = 18
BEYOND_ANY_FILE: Final = 10 ** MAX_POSITION_DIGITS


def _position(digits: str) -> int:
    """The value of an ASCII digit string, exact below ``BEYOND_ANY_FILE``;
    ``BEYOND_ANY_FILE`` for anything larger."""
    digits = digits.lstrip("0") or "0"
    return BEYOND_ANY_FILE if len(digits) > MAX_POSITION_DIGITS else int(digits)


def byte_range(value: str, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """The single byte range a ``Range`` value asks for, as ``(start, end)``
    with ``end`` exclusive; ``UNSATISFIABLE``; or ``None`` to send the whole
    file (syntax we do not honour, other units, or several ranges, which
    RFC 9110 lets a server answer with the full representation). Positions
    too long to be exact are taken as past the end of the file: a first
    position is then unsatisfiable, a last one or a suffix means "to the
    end"; when both are, the range is unsatisfiable."""
    unit, eq, spec = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if not first.isascii() or not last.isascii():
        return None
    if first == "":
        if last == "":
            return None
        suffix = _position(last)
        if suffix == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size
    start = _position(first)
    end = size if last == "" else _position(last) + 1
    if last != "" and end <= start:
        return None  # a last-byte-pos before the first is invalid syntax: ignore
    if start >= size:
        return UNSATISFIABLE
    return start, min(end, size)


# -- entity tags --------------------------------------------------------------------


def etag_for(sha256: str) -> str:
    return f'"{sha256}"'


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison against an If-None-Match list (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def if_range_holds(if_range: str | None, etag: str, last_modified: str) -> bool:
    """RFC 9110 13.1.5: honour Range only if If-Range (when sent) still
    names this representation: the strong ETag or the exact Last-Modified."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith('"') or if_range.startswith("W/"):
        return if_range == etag
    return if_range == last_modified
