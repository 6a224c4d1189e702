"""Header field parameters (RFC 9110 5.6.6): ``leading; name=token;
name="quoted string"``, as in a Content-Type or a Content-Disposition value.

One pass over the characters: every pattern is a single character class
matched in place, so nothing backtracks and the cost is linear in the value
whatever it holds (long runs of spaces, backslashes or quotes included)."""

from __future__ import annotations

import re

SPACE = re.compile(r"[ \t]*")
NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]*")
VALUE = re.compile(r'[^ \t;"\x00-\x1f\x7f]*')  # a token, leniently: what clients send unquoted
QDTEXT = re.compile(r'[^"\\]*')


class MalformedParameters(ValueError):
    """The value does not parse as parameters, or repeats one."""


def parameters(value: str) -> tuple[str, dict[str, str]]:
    """The leading value, stripped and lowercased (a media type or a
    disposition type), and the parameters: names lowercased, quoted strings
    unquoted (``\\x`` stands for ``x``). Raises ``MalformedParameters``."""
    leading, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i = 0
    while (i := _skip(SPACE, rest, i)) < len(rest):
        end = _skip(NAME, rest, i)
        name, i = rest[i:end].lower(), _skip(SPACE, rest, end)
        if not name or rest[i:i + 1] != "=":
            raise MalformedParameters("malformed header parameter")
        i = _skip(SPACE, rest, i + 1)
        if rest[i:i + 1] == '"':
            text, i = _quoted_string(rest, i + 1)
        else:
            end = _skip(VALUE, rest, i)
            text, i = rest[i:end], end
            if not text:
                raise MalformedParameters(f"header parameter {name} without a value")
        if name in params:
            raise MalformedParameters(f"repeated header parameter {name}")
        params[name] = text
        i = _skip(SPACE, rest, i)
        if i < len(rest) and rest[i] != ";":
            raise MalformedParameters("malformed header parameter")
        i += 1  # past the ";" (a trailing one is allowed)
    return leading.strip(" \t").lower(), params


def _quoted_string(text: str, i: int) -> tuple[str, int]:
    """The quoted string opened just before ``text[i]``, unescaped, and the index after it."""
    pieces = []
    while (end := _skip(QDTEXT, text, i)) < len(text):
        pieces.append(text[i:end])
        if text[end] == '"':
            return "".join(pieces), end + 1
        pieces.append(text[end + 1:end + 2])  # a quoted-pair: the character after the backslash
        i = end + 2
    raise MalformedParameters("unterminated quoted string in a header parameter")


def _skip(pattern: re.Pattern[str], text: str, i: int) -> int:
    match = pattern.match(text, i)
    assert match is not None  # every pattern matches the empty string
    return match.end()
