"""Sans-I/O checks of where a request is addressed: the request target's
forms (RFC 9112 3.2) and the RFC 3986 authority of a Host header or an
absolute-form target. Every link the service returns is built on that
authority, so nothing malformed may pass. Linear regexes only."""

from __future__ import annotations

import ipaddress
import re

# RFC 3986 3.2.2: a host is an IP literal in brackets or a reg-name (which
# includes IPv4 addresses); 3.2.3: a port is digits.
REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+\Z")
IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}\Z")
IP_FUTURE = re.compile(r"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\Z")
PORT = re.compile(r"[0-9]{1,5}\Z")


class InvalidTarget(ValueError):
    """A malformed request target or authority (the parser answers 400)."""


def split_target(target: str, allow_asterisk: bool) -> tuple[str, str, str | None]:
    """Path, query and authority (``None`` unless absolute-form) of an
    origin-form, absolute-form (``http`` or ``https``) or, if allowed,
    asterisk-form target. The authority is not checked here."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query, None
    scheme, separator, rest = target.partition("://")
    if separator and scheme.lower() in ("http", "https"):
        end = len(rest)
        for delimiter in "/?#":  # RFC 3986 3.2: the authority ends at the first of these
            found = rest.find(delimiter, 0, end)
            if found >= 0:
                end = found
        authority, rest = rest[:end], rest[end:]
        path, _, query = (rest if rest.startswith("/") else "/" + rest).partition("?")
        return path, query, authority
    if target == "*" and allow_asterisk:
        return "*", "", None
    raise InvalidTarget("malformed request target")


def checked_authority(value: str, what: str) -> str:
    """``host[:port]`` of a Host header or an absolute-form target (``what``
    names it in the error), checked against RFC 3986 3.2.2-3.2.3, with an
    empty port dropped (RFC 3986 6.2.3); ``InvalidTarget`` if it is not
    one. The host may not be empty: every target this service answers is an
    ``http`` URI, whose host never is (RFC 9110 4.2.1); nor may userinfo
    appear (RFC 9110 4.2.4); a port is at most 65535."""
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or not _is_ip_literal(value[1:close]):
            raise InvalidTarget(f"malformed IP literal in the {what}")
        host, rest = value[:close + 1], value[close + 1:]
    else:
        host, colon, port = value.partition(":")
        if not REG_NAME.match(host):
            raise InvalidTarget(f"malformed host in the {what}")
        rest = colon + port
    if rest in ("", ":"):
        return host
    if rest[0] != ":" or not PORT.match(rest, 1) or int(rest[1:]) > 65535:
        raise InvalidTarget(f"malformed port in the {what}")
    return host + rest


def _is_ip_literal(literal: str) -> bool:
    """An IPv6 address (no zone) or an IPvFuture, as inside ``[...]``."""
    if IP_FUTURE.match(literal):
        return True
    if not IPV6_CHARS.match(literal):
        return False
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True
