"""upload-download-service: the composition root.

Parses the configuration (CLI flags, each with a ``UDS_*`` environment twin),
builds the adapters, hands them to the domain services and runs the HTTP
transport until SIGTERM or SIGINT. The only module that knows every concrete
class.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence
from urllib.parse import urlsplit

from adapters.clock import AsyncioClock
from adapters.http.access_log import LogFormatter
from adapters.http.connection import TransportConfig
from adapters.http.routes import Routes
from adapters.http.server import HttpServer
from adapters.links import LinkIssuer
from adapters.prefork import run_workers
from adapters.storage.filesystem import FileSystemStore, StorageUnavailable
from adapters.throttle import RateLimits
from domain.services import CheckService, DownloadService, UploadService

log = logging.getLogger("uds")
# Start-up and shutdown lines are shown at every --log-level: scripts and
# people wait for "listening on", and where the files go is never noise.
lifecycle = logging.getLogger("uds.lifecycle")
lifecycle.setLevel(logging.INFO)

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class ConfigError(Exception):
    pass


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
    if not digits.isdigit() or not digits.isascii():
        raise ConfigError(f"{text!r} is not a size (use e.g. 1048576, 512K, 10M, 1G)")
    return int(digits) * UNITS[unit]


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
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


def parse_positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{text!r} must be a positive integer")
    return int(text)


def parse_public_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{text!r} must be an absolute http(s) URL without query, e.g. https://files.example.com")
    if any(c in text for c in " \t\r\n\"<>\\"):
        raise ConfigError(f"{text!r} contains characters not allowed in a URL")
    return text.strip().rstrip("/")


def parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{text!r} is not one of debug, info, warning, error, critical")
    return level


def parse_fsync(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("always", "never"):
        raise ConfigError(f"{text!r} must be 'always' or 'never'")
    return value == "always"


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
    workers: int = 1


# flag -> (parser, metavar, help). Every flag has a UDS_<NAME> twin.
OPTIONS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "host": (parse_host, "ADDR", "address to listen on (default 0.0.0.0; '::' for IPv6)"),
    "port": (parse_port, "PORT", "TCP port (default 8000; 0 picks a free one)"),
    "storage": (str, "DIR", "storage directory, created if missing (default ./storage)"),
    "public_url": (parse_public_url, "URL",
                   "base of the returned links, e.g. https://files.example.com "
                   "(default: built from the request's Host header)"),
    "max_upload_size": (parse_size, "BYTES", "largest accepted upload (default 1G; 0 = unlimited)"),
    "upload_rate": (parse_size, "BYTES/S", "upload speed limit per connection (default 0 = unlimited)"),
    "download_rate": (parse_size, "BYTES/S", "download speed limit per connection (default 0 = unlimited)"),
    "total_upload_rate": (parse_size, "BYTES/S",
                          "upload speed limit shared fairly by all connections (default 0 = unlimited)"),
    "total_download_rate": (parse_size, "BYTES/S",
                            "download speed limit shared fairly by all connections (default 0 = unlimited)"),
    "burst": (parse_size, "BYTES",
              "token-bucket burst: bytes a limited transfer may send at once after a pause "
              "(default: the larger of 64K and rate/10)"),
    "header_timeout": (parse_seconds, "SECONDS", "drop a client that takes longer to send a request head (default 10)"),
    "keepalive_timeout": (parse_seconds, "SECONDS", "close an idle keep-alive connection after this (default 15)"),
    "body_timeout": (parse_seconds, "SECONDS",
                     "abort a transfer that makes no progress for this long (default 60)"),
    "max_connections": (parse_positive, "N", "concurrent connections; above it, 503 with Retry-After (default 1024)"),
    "shutdown_timeout": (parse_seconds, "SECONDS",
                         "on SIGTERM, how long in-flight transfers may finish (default 30)"),
    "fsync": (parse_fsync, "always|never", "fsync each upload before answering 201 (default always)"),
    "min_free_space": (parse_size, "BYTES", "refuse uploads (507) that would leave less free disk (default 64M)"),
    "log_level": (parse_log_level, "LEVEL", "debug, info, warning or error (default info)"),
    "workers": (parse_positive, "N",
                "processes serving the one listening socket, for multi-core machines (default 1); "
                "total rates are split evenly between them"),
}


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_config(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> Config:
    """Flags win over ``UDS_*`` variables, which win over the defaults. Raises
    ``ConfigError`` naming the flag (and variable) of a bad value."""
    parser = _OneLineParser(
        prog="main.py",
        description="upload-download-service: upload a file, get an unguessable link to check and download it.",
        epilog="Sizes and rates take plain bytes or K/M/G suffixes (powers of 1024). "
               "Each flag can also be set by an environment variable: --upload-rate is UDS_UPLOAD_RATE.",
    )
    for name, (_, metavar, help_text) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, metavar=metavar, default=None, help=f"{help_text} [UDS_{name.upper()}]")
    args = vars(parser.parse_args(list(argv)))
    values: dict[str, Any] = {}
    for field in fields(Config):
        parse, _, _ = OPTIONS[field.name]
        raw = args.get(field.name)
        source = "--" + field.name.replace("_", "-")
        env_name = "UDS_" + field.name.upper()
        if raw is None and env_name in environ:
            raw, source = environ[env_name], f"{env_name} ({source})"
        if raw is None:
            continue
        try:
            values[field.name] = parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Config(**values)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False,
                                dualstack_ipv6=False)
    sock.setblocking(False)
    return sock


def describe_limits(config: Config) -> str:
    def rate(value: int) -> str:
        return f"{value} B/s" if value else "unlimited"

    return (f"upload {rate(config.upload_rate)} per connection, {rate(config.total_upload_rate)} total; "
            f"download {rate(config.download_rate)} per connection, {rate(config.total_download_rate)} total; "
            f"max upload {config.max_upload_size or 'unlimited'} bytes")


async def serve(config: Config, store: FileSystemStore, sock: socket.socket, announce: bool = True) -> None:
    clock = AsyncioClock()
    links = LinkIssuer(config.public_url)
    # Each worker process holds its own buckets: a total rate is split evenly
    # between workers, so together they never exceed it.
    limits = RateLimits(
        clock,
        upload_rate=config.upload_rate,
        download_rate=config.download_rate,
        total_upload_rate=_share(config.total_upload_rate, config.workers),
        total_download_rate=_share(config.total_download_rate, config.workers),
        burst=config.burst,
    )
    routes = Routes(
        UploadService(store, links, clock, config.max_upload_size),
        CheckService(store, links),
        DownloadService(store, links),
        links,
        limits,
    )
    server = HttpServer(routes, TransportConfig(
        header_timeout=config.header_timeout,
        keepalive_timeout=config.keepalive_timeout,
        body_timeout=config.body_timeout,
        max_connections=config.max_connections,
        shutdown_timeout=config.shutdown_timeout,
    ))
    await server.start(sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if announce:
        lifecycle.info("listening on %s", listening_url(sock))
    await stop.wait()
    await server.shutdown()
    lifecycle.info("stopped")


def _share(total_rate: int, workers: int) -> int:
    return max(1, total_rate // workers) if total_rate else 0


def listening_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())  # UTC timestamps, as in the access log
    logging.basicConfig(level=config.log_level, handlers=[handler])
    store = FileSystemStore(Path(config.storage), fsync=config.fsync, min_free_space=config.min_free_space)
    try:
        removed = store.prepare()
    except StorageUnavailable as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"main.py: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    lifecycle.info("storage %s (%d leftover temporary file(s) removed), fsync %s",
                   store.root.resolve(), removed, "always" if config.fsync else "never")
    lifecycle.info("limits: %s", describe_limits(config))
    if config.workers == 1:
        asyncio.run(serve(config, store, sock))
        return 0

    def worker(index: int) -> int:
        asyncio.run(serve(config, store, sock, announce=False))
        return 0

    lifecycle.info("listening on %s with %d workers", listening_url(sock), config.workers)
    code = run_workers(config.workers, worker, on_exit=store.remove_uploads_of)
    lifecycle.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
