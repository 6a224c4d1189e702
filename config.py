"""The service's configuration: one frozen ``Config``, built from CLI flags and
their ``UDS_*`` environment twins, validated at start-up.

Every setting is declared once, in ``OPTIONS``: its parser, its default (the
``Config`` field's), and how that default is written. ``--help`` and the
README's configuration table show that same text (a unit test holds the
README to it), so a default cannot drift between the three.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, Mapping, NoReturn, Sequence
from urllib.parse import urlsplit

from domain.durations import format_duration, parse_duration

VERSION = "1.1.0"
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


@dataclass(frozen=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 8000
    storage: str = "./storage"
    public_url: str | None = None
    max_upload_size: int = 1 << 30
    upload_rate: int = 0
    download_rate: int = 0
    total_upload_rate: int = 0
    total_download_rate: int = 0
    burst: int = 0
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    body_timeout: float = 60.0
    max_connections: int = 1024
    shutdown_timeout: float = 30.0
    fsync: bool = True
    min_free_space: int = 64 << 20
    log_level: str = "INFO"
    log_format: str = "text"
    workers: int = 1
    cors_origin: tuple[str, ...] = ()
    trusted_proxy: tuple[str, ...] = ()
    proxy_headers: str = "x-forwarded"
    requests_per_minute: int = 0
    max_connections_per_ip: int = 0
    client_upload_rate: int = 0
    client_download_rate: int = 0
    # Secrets: kept out of the repr, so that no log line can show them.
    upload_token: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    upload_token_file: tuple[str, ...] = dataclasses.field(default=(), repr=False)  # the tokens read from the file
    default_ttl: float = 7 * 86400.0
    max_ttl: float | None = None
    max_storage: int = 0
    janitor_interval: float = 30.0
    metrics_listen: str | None = None

    @property
    def upload_tokens(self) -> tuple[str, ...]:
        return self.upload_token + self.upload_token_file

    def __post_init__(self) -> None:
        ceiling = self.max_ttl
        if ceiling and (not self.default_ttl or self.default_ttl > ceiling):
            raise ConfigError(f"--default-ttl ({show_ttl(self.default_ttl)}, 0 = never) must not exceed "
                              f"--max-ttl ({show_ttl(ceiling)})")
    resumable_ttl: float = 86400.0
    s3_endpoint: str | None = None
    s3_addressing: str = "path"
    s3_part_size: int = 8 << 20

    @property
    def s3(self) -> bool:
        """Whether ``--storage`` names an S3 bucket (``s3://``) rather than a directory."""
        return self.storage.startswith("s3://")


@dataclass(frozen=True)
class Option:
    """One setting: how to read it, its ``--help`` text, and how its default is
    written (``show`` of the ``Config`` default, or ``default_text`` for
    defaults that are a rule rather than a value). A ``repeat`` setting may
    be given several times (its variable: a comma-separated list) and is a
    tuple of parsed values."""

    parse: Callable[[str], Any]
    metavar: str
    help: str
    show: Callable[[Any], str] = str
    default_text: str | None = None
    repeat: bool = False


OPTIONS: dict[str, Option] = {
    "host": Option(parse_host, "ADDR", "address to listen on ('::' for IPv6)"),
    "port": Option(parse_port, "PORT", "TCP port (0 picks a free one)"),
    "storage": Option(parse_storage, "DIR|s3://BUCKET/PREFIX", "storage directory, created if missing; or an S3 "
                      "bucket and key prefix (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                      "AWS_SESSION_TOKEN, AWS_REGION)"),
    "public_url": Option(parse_public_url, "URL", "base of the returned links, e.g. https://files.example.com",
                         default_text="from the Host header"),
    "max_upload_size": Option(parse_size, "BYTES", "largest accepted upload; 0 = unlimited", show_size),
    "upload_rate": Option(parse_size, "BYTES/S", "upload speed limit per connection; 0 = unlimited", show_size),
    "download_rate": Option(parse_size, "BYTES/S", "download speed limit per connection; 0 = unlimited",
                            show_size),
    "total_upload_rate": Option(parse_size, "BYTES/S",
                                "upload speed limit shared fairly by all connections; 0 = unlimited", show_size),
    "total_download_rate": Option(parse_size, "BYTES/S",
                                  "download speed limit shared fairly by all connections; 0 = unlimited", show_size),
    "burst": Option(parse_size, "BYTES", "token-bucket burst: bytes a limited transfer may send at once after a pause",
                    show_size, default_text="larger of 64K and rate/10"),
    "header_timeout": Option(parse_seconds, "SECONDS", "drop a client that takes longer to send a request head",
                             show_seconds),
    "keepalive_timeout": Option(parse_seconds, "SECONDS", "close an idle keep-alive connection after this",
                                show_seconds),
    "body_timeout": Option(parse_seconds, "SECONDS", "abort a transfer that makes no progress for this long",
                           show_seconds),
    "max_connections": Option(parse_positive, "N", "concurrent connections; above it, 503 with Retry-After"),
    "shutdown_timeout": Option(parse_seconds, "SECONDS", "on SIGTERM, how long in-flight transfers may finish",
                               show_seconds),
    "fsync": Option(parse_fsync, "always|never", "fsync each upload before answering 201",
                    lambda on: "always" if on else "never"),
    "min_free_space": Option(parse_size, "BYTES", "refuse uploads (507) that would leave less free disk", show_size),
    "log_level": Option(parse_log_level, "LEVEL", "debug, info, warning or error", str.lower),
    "log_format": Option(parse_log_format, "text|json", "log lines as text, or one JSON object a line "
                         "(access lines with request id, method, path, status, bytes, duration, client)"),
    "workers": Option(parse_positive, "N", "processes serving the one listening socket, for multi-core machines; "
                      "total rates are split evenly between them"),
    "cors_origin": Option(parse_origin, "ORIGIN", "web origin allowed to call the API from a browser (CORS); "
                          "repeatable, or * for any", default_text="none (CORS off)", repeat=True),
    "trusted_proxy": Option(parse_network, "CIDR", "proxy whose forwarding headers name the client and the "
                            "scheme and host of the links; repeatable", default_text="none", repeat=True),
    "proxy_headers": Option(parse_proxy_headers, "x-forwarded|forwarded",
                            "which headers trusted proxies set: X-Forwarded-For/-Proto/-Host, or Forwarded"),
    "requests_per_minute": Option(parse_count, "N", "requests a client may make per minute (429 above); "
                                  "0 = unlimited"),
    "max_connections_per_ip": Option(parse_count, "N", "open connections per client address (503 above); "
                                     "0 = unlimited"),
    "client_upload_rate": Option(parse_size, "BYTES/S", "upload speed limit shared by all connections of one "
                                 "client; 0 = unlimited", show_size),
    "client_download_rate": Option(parse_size, "BYTES/S", "download speed limit shared by all connections of "
                                   "one client; 0 = unlimited", show_size),
    "upload_token": Option(parse_token, "TOKEN", "require Authorization: Bearer TOKEN for uploads; repeatable",
                           default_text="none (uploads open)", repeat=True),
    "upload_token_file": Option(parse_token_file, "FILE", "upload tokens, one a line",
                                default_text="none"),
    "default_ttl": Option(parse_ttl, "DURATION", "how long an upload lives unless it asks for less "
                          "(Expires-In, Max-Days), e.g. 7d, 12h, 30m; 0 = forever", show_ttl),
    "max_ttl": Option(parse_ttl, "DURATION", "the longest life an upload may ask for; 0 = no limit",
                      show_ttl, default_text="the default TTL"),
    "max_storage": Option(parse_size, "BYTES", "total size of the stored files; uploads beyond it get 507; "
                          "0 = unlimited", show_size),
    "janitor_interval": Option(parse_seconds, "SECONDS", "how often expired, used-up and deleted files are removed "
                               "from the disk", show_seconds),
    "metrics_listen": Option(parse_listen, "HOST:PORT", "serve /metrics (and /healthz) on this address instead "
                             "of the main port, which then answers 404 for /metrics",
                             default_text="none (/metrics on the main port)"),
    "resumable_ttl": Option(parse_positive_duration, "DURATION", "remove a resumable (tus) upload that gets no "
                            "data for this long (7d, 12h, 30m, 45s, or seconds)", format_duration),
    "s3_endpoint": Option(parse_s3_endpoint, "URL", "the S3 server of an s3:// --storage, e.g. "
                          "http://127.0.0.1:8333 (SeaweedFS, MinIO)", default_text="AWS S3 in AWS_REGION"),
    "s3_addressing": Option(parse_addressing, "path|virtual", "name the bucket in the path (/bucket/key) or in the "
                            "host name (bucket.host)"),
    "s3_part_size": Option(parse_part_size, "BYTES", "part size of multipart uploads to S3 (5M to 5G); about two "
                           "parts per upload are held in memory", show_size),
}


def default_text(name: str) -> str:
    """How the default of setting ``name`` is written in ``--help`` and the README."""
    option = OPTIONS[name]
    if option.default_text is not None:
        return option.default_text
    default = next(f.default for f in fields(Config) if f.name == name)
    assert default is not MISSING
    return option.show(default)


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_config(argv: Sequence[str], environ: Mapping[str, str] | os._Environ[str]) -> Config:
    """Flags win over ``UDS_*`` variables, which win over the defaults. Raises
    ``ConfigError`` naming the flag (and variable) of a bad value."""
    parser = _OneLineParser(
        prog="main.py",
        description="upload-download-service: upload a file, get an unguessable link to check and download it.",
        epilog="Sizes and rates take plain bytes or K/M/G suffixes (powers of 1024). "
               "Each flag can also be set by an environment variable: --upload-rate is UDS_UPLOAD_RATE.",
    )
    parser.add_argument("--version", action="version", version=f"upload-download-service {VERSION}")
    for name, option in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, metavar=option.metavar, default=None,
                            action="append" if option.repeat else "store",
                            help=f"{option.help} (default {default_text(name)}) [UDS_{name.upper()}]")
    args = vars(parser.parse_args(list(argv)))
    values: dict[str, Any] = {}
    for field in fields(Config):
        option = OPTIONS[field.name]
        raw: str | list[str] | None = args.get(field.name)
        source = "--" + field.name.replace("_", "-")
        env_name = "UDS_" + field.name.upper()
        # An empty variable means "unset" (compose files and shells make them easily).
        if raw is None and environ.get(env_name, "").strip():
            raw, source = environ[env_name], f"{env_name} ({source})"
            if option.repeat:
                raw = [item for item in raw.split(",") if item.strip()]
        if raw is None:
            continue
        try:
            if isinstance(raw, list):
                values[field.name] = tuple(option.parse(item) for item in raw)
            else:
                values[field.name] = option.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Config(**values)


def describe_limits(config: Config) -> str:
    """The speed, size and life limits in one log line."""
    def rate(value: int) -> str:
        return f"{value} B/s" if value else "unlimited"

    ceiling = config.default_ttl if config.max_ttl is None else config.max_ttl
    return (f"upload {rate(config.upload_rate)} per connection, {rate(config.client_upload_rate)} per client, "
            f"{rate(config.total_upload_rate)} total; "
            f"download {rate(config.download_rate)} per connection, {rate(config.client_download_rate)} per client, "
            f"{rate(config.total_download_rate)} total; "
            f"max upload {config.max_upload_size or 'unlimited'} bytes; "
            f"requests per client {config.requests_per_minute or 'unlimited'} a minute; "
            f"uploads {'need a token' if config.upload_tokens else 'open'}; "
            f"files live {show_ttl(config.default_ttl) if config.default_ttl else 'forever'} "
            f"(uploads may ask for {show_ttl(ceiling) if ceiling else 'any life'}); "
            f"stored total {config.max_storage or 'unlimited'} bytes")
