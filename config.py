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
import os
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, Mapping, NoReturn, Sequence

from domain.durations import format_duration
from config_values import (
    ConfigError, listen_address, parse_addressing, parse_count, parse_fsync, parse_host, parse_listen,
    parse_log_format, parse_log_level, parse_network, parse_origin, parse_part_size, parse_port, parse_positive,
    parse_positive_duration, parse_proxy_headers, parse_public_url, parse_s3_endpoint, parse_seconds,
    parse_size, parse_storage, parse_token, parse_token_file, parse_ttl, s3_location, show_seconds, show_size,
    show_ttl,
)

__all__ = ["VERSION", "Config", "ConfigError", "OPTIONS", "default_text", "describe_limits", "listen_address",
           "parse_config", "parse_size", "s3_location"]

VERSION = "1.1.0"


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
    resumable_ttl: float = 86400.0
    metrics_listen: str | None = None
    s3_endpoint: str | None = None
    s3_addressing: str = "path"
    s3_part_size: int = 8 << 20

    @property
    def upload_tokens(self) -> tuple[str, ...]:
        return self.upload_token + self.upload_token_file

    def __post_init__(self) -> None:
        ceiling = self.max_ttl
        if ceiling and (not self.default_ttl or self.default_ttl > ceiling):
            raise ConfigError(f"--default-ttl ({show_ttl(self.default_ttl)}, 0 = never) must not exceed "
                              f"--max-ttl ({show_ttl(ceiling)})")

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
