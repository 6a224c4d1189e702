"""The values of the service's settings: a parser for each kind (sizes,
durations, URLs, addresses, tokens...) that turns the text of a flag or an
``UDS_*`` variable into the value, or raises ``ConfigError`` saying what is
wrong, and the printers that write defaults back (``config.py`` puts them
together into ``OPTIONS``)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from domain.durations import format_duration, parse_duration

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class ConfigError(Exception):
    """A bad setting; the message names the flag (and variable) and the value."""


def parse_size(text: str) -> int:
    """A non-negative byte count: digits with an optional K, M, G or T suffix
    (powers of 1024; ``KB``/``KiB`` spellings accepted)."""
    value = text.strip().upper()
    for tail in ("IB", "B"):
        if value.endswith(tail) and value[:-len(tail)][-1:] in "KMGT" and len(value) > len(tail):
            value = value[:-len(tail)]
            break
    unit = value[-1:] if value[-1:] in UNITS and value[-1:] != "" else ""
    digits = value[:-1] if unit else value
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        raise ConfigError(f"{text!r} is not a size (use e.g. 1048576, 512K, 10M, 1G)")
    return int(digits) * UNITS[unit]


def show_size(value: int) -> str:
    """The shortest exact spelling ``parse_size`` reads back: 1073741824 -> 1G."""
    for unit in ("T", "G", "M", "K"):
        if value and value % UNITS[unit] == 0:
            return f"{value // UNITS[unit]}{unit}"
    return str(value)


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not text.strip().isascii() or not 0 <= int(text) <= 65535:
        raise ConfigError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{text!r} must be a positive number of seconds")
    return value


def show_seconds(value: float) -> str:
    return f"{value:g}"


def parse_positive(text: str) -> int:
    if not text.strip().isdigit() or not text.strip().isascii() or int(text) < 1:
        raise ConfigError(f"{text!r} must be a positive integer")
    return int(text)


def parse_public_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{text!r} must be an absolute http(s) URL without query, e.g. https://files.example.com")
    if any(c in text for c in " \t\r\n\"<>\\"):
        raise ConfigError(f"{text!r} contains characters not allowed in a URL")
    return text.strip().rstrip("/")


S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")


def parse_storage(text: str) -> str:
    """A directory, or ``s3://bucket[/prefix]`` (see ``s3_location``)."""
    text = text.strip()
    if text.startswith("s3://"):
        s3_location(text)
    elif not text:
        raise ConfigError("must be a directory or s3://bucket/prefix")
    return text


def s3_location(storage: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as (bucket, prefix ending in ``/`` or "")."""
    bucket, _, prefix = storage[len("s3://"):].partition("/")
    if not S3_BUCKET.match(bucket):
        raise ConfigError(f"{storage!r}: the bucket must be 3-63 characters of a-z, 0-9, '.' and '-'")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def parse_s3_endpoint(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"{text!r} must be http(s)://host[:port], e.g. http://127.0.0.1:8333")
    return text.strip().rstrip("/")


def parse_addressing(text: str) -> str:
    if text.strip().lower() not in ("path", "virtual"):
        raise ConfigError(f"{text!r} must be path or virtual")
    return text.strip().lower()


def parse_part_size(text: str) -> int:
    size = parse_size(text)
    if not 5 << 20 <= size <= 5 << 30:
        raise ConfigError(f"{text!r} must be between 5M and 5G (S3's limits for a part)")
    return size


def parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{text!r} is not one of debug, info, warning, error, critical")
    return level


def parse_log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("text", "json"):
        raise ConfigError(f"{text!r} must be 'text' or 'json'")
    return value


def parse_fsync(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("always", "never"):
        raise ConfigError(f"{text!r} must be 'always' or 'never'")
    return value == "always"


def parse_origin(text: str) -> str:
    """``*`` or a web origin, ``scheme://host[:port]`` (no path), as browsers
    send it in ``Origin``."""
    value = text.strip()
    if value == "*":
        return value
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query
            or parts.fragment or "@" in parts.netloc or any(c in value for c in " \t\r\n\"<>\\,")):
        raise ConfigError(f"{text!r} is not an origin (use e.g. https://app.example.com, or *)")
    return value.lower()


def parse_count(text: str) -> int:
    if not text.strip().isdigit() or not text.strip().isascii():
        raise ConfigError(f"{text!r} must be a whole number (0 = no limit)")
    return int(text)


def parse_network(text: str) -> str:
    """A CIDR (``10.0.0.0/8``, ``2001:db8::/32``) or one address, normalised."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an address or a CIDR such as 10.0.0.0/8 or fd00::/8 ({exc})") from None


def parse_proxy_headers(text: str) -> str:
    value = text.strip().lower()
    if value not in ("x-forwarded", "forwarded"):
        raise ConfigError(f"{text!r} must be 'x-forwarded' or 'forwarded'")
    return value


# RFC 6750 2.1: a bearer token is a b64token; at least 16 characters (a
# guessable token is no protection). Error messages never echo a token.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{16,1024}=*\Z")


def parse_token(text: str) -> str:
    if not TOKEN.match(text.strip()):
        raise ConfigError("an upload token must be 16 to 1024 characters of A-Z a-z 0-9 - . _ ~ + / "
                          "(e.g. from: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return text.strip()


def parse_token_file(path: str) -> tuple[str, ...]:
    """The tokens of a file, one a line; blank lines and lines starting with
    ``#`` are skipped. Read once, at start-up."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read(1 << 20).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    tokens = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                tokens.append(parse_token(line))
            except ConfigError as exc:
                raise ConfigError(f"{path!r} line {number}: {exc}") from None
    if not tokens:
        raise ConfigError(f"{path!r} holds no token")
    return tuple(tokens)


def parse_ttl(text: str) -> float:
    """A lifetime such as ``7d``, ``12h`` or ``90`` (seconds); ``0`` is allowed."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def show_ttl(value: float | None) -> str:
    return "0" if not value else format_duration(value)


def parse_positive_duration(text: str) -> float:
    """A positive duration (``domain.durations``: ``24h``, ``1d12h``, ``90``)."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if value <= 0:
        raise ConfigError(f"{text!r} must be a positive duration")
    return value


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6) as (host, port)."""
    host, colon, port = text.strip().rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    if not colon or not host or (":" in host and not bracketed) or any(c in host for c in "[] \t"):
        raise ConfigError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9100 or [::1]:9100)")
    return host, parse_port(port)


def parse_listen(text: str) -> str:
    listen_address(text)
    return text.strip()


def parse_host(text: str) -> str:
    if not text.strip():
        raise ConfigError("the host must not be empty")
    return text.strip()
