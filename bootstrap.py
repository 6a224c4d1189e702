"""The composition function: builds the service from its parts.

``build_app`` is the one place that wires adapters into the domain services
and the HTTP transport. ``main.py`` calls it with the real store, clock and
link issuer; tests call it with fakes (an in-memory store, a virtual clock)
and drive the returned server in-process.
"""

from __future__ import annotations

from adapters.http.access_log import AccessLog
from adapters.http.connection import TransportConfig
from adapters.http.routes import Routes
from adapters.http.server import HttpServer
from adapters.throttle import RateLimits
from config import Config
from domain.resumable import PartialJanitor, ResumableService
from domain.services import CheckService, DownloadService, UploadService
from ports.ids import IdIssuer
from ports.storage import Resumable, Storage
from ports.throttle import Clock


def transport_config(config: Config) -> TransportConfig:
    return TransportConfig(
        header_timeout=config.header_timeout,
        keepalive_timeout=config.keepalive_timeout,
        body_timeout=config.body_timeout,
        max_connections=config.max_connections,
        shutdown_timeout=config.shutdown_timeout,
    )


def build_app(config: Config, storage: Storage, clock: Clock, ids: IdIssuer,
              access_log: AccessLog | None = None) -> HttpServer:
    """The HTTP server of one process (not yet listening: ``start`` it on a
    socket). With ``--workers N`` each worker process builds its own, and a
    total rate is split evenly between them, so together they never exceed it."""
    limits = RateLimits(
        clock,
        upload_rate=config.upload_rate,
        download_rate=config.download_rate,
        total_upload_rate=share(config.total_upload_rate, config.workers),
        total_download_rate=share(config.total_download_rate, config.workers),
        burst=config.burst,
    )
    uploads = UploadService(storage, ids, clock, config.max_upload_size)
    check = CheckService(storage, ids)
    resumable = None
    if isinstance(storage, Resumable):
        resumable = ResumableService(storage, uploads, check, ids, clock, config.resumable_ttl,
                                     config.max_upload_size)
    routes = Routes(
        uploads,
        check,
        DownloadService(storage, ids),
        limits,
        config.public_url,
        resumable,
        config.max_upload_size,
    )
    return HttpServer(routes.session, transport_config(config), access_log)


def build_janitor(config: Config, storage: Storage, clock: Clock) -> PartialJanitor | None:
    """The task that removes abandoned resumable uploads (``run`` it beside the
    server: it sweeps at once, then every quarter of ``--resumable-ttl``, at
    most hourly), or ``None`` when the store keeps none."""
    if not isinstance(storage, Resumable):
        return None
    return PartialJanitor(storage, clock, min(3600.0, config.resumable_ttl / 4))


def share(total_rate: int, workers: int) -> int:
    """One worker's part of a total rate (0, unlimited, stays 0)."""
    return max(1, total_rate // workers) if total_rate else 0
