"""The composition function: builds the service from its parts.

``build_app`` is the one place that wires adapters into the domain services
and the HTTP transport, ``build_janitor`` the task that removes what expired.
``main.py`` calls them with the real store, ledger, clock and id issuer;
tests call them with fakes (an in-memory store and ledger, a virtual clock)
and drive the returned server in-process.
"""

from __future__ import annotations

from adapters.http.access_log import AccessLog
from adapters.http.admission import Admission, RequestRates, UploadAuth
from adapters.http.clients import ClientResolver
from adapters.http.connection import TransportConfig
from adapters.http.cors import CorsPolicy
from adapters.http.routes import ROUTES, Routes
from adapters.http.server import HttpServer
from adapters.throttle import RateLimits
from config import Config
from domain.janitor import Janitor
from domain.lifecycle import Lifecycle
from domain.resumable import PartialJanitor, ResumableService
from domain.services import CheckService, DeleteService, DownloadService, UploadService
from domain.terms import LifecyclePolicy
from ports.hashing import Hashing
from ports.ids import IdIssuer
from ports.ledger import Ledger
from ports.storage import HealthReport, Resumable, Storage
from ports.throttle import Clock


def transport_config(config: Config) -> TransportConfig:
    return TransportConfig(
        header_timeout=config.header_timeout,
        keepalive_timeout=config.keepalive_timeout,
        body_timeout=config.body_timeout,
        max_connections=config.max_connections,
        max_connections_per_ip=config.max_connections_per_ip,
        shutdown_timeout=config.shutdown_timeout,
    )


def build_lifecycle(config: Config, storage: Storage, ledger: Ledger, clock: Clock) -> Lifecycle:
    policy = LifecyclePolicy(default_ttl=config.default_ttl, max_ttl=config.max_ttl,
                             max_storage=config.max_storage)
    return Lifecycle(ledger, storage, clock, policy)


def build_app(config: Config, storage: Storage, clock: Clock, ids: IdIssuer, ledger: Ledger,
              access_log: AccessLog | None = None, hashing: Hashing | None = None) -> HttpServer:
    """The HTTP server of one process (not yet listening: ``start`` it on a
    socket). With ``--workers N`` each worker process builds its own, and a
    total rate is split evenly between them, so together they never exceed it.
    ``hashing``: where uploads are hashed (main.py: beside the event loop,
    ``adapters/hashing.py``; default: on it)."""
    limits = RateLimits(
        clock,
        upload_rate=config.upload_rate,
        download_rate=config.download_rate,
        total_upload_rate=share(config.total_upload_rate, config.workers),
        total_download_rate=share(config.total_download_rate, config.workers),
        burst=config.burst,
        client_upload_rate=config.client_upload_rate,
        client_download_rate=config.client_download_rate,
    )
    admission = Admission(
        RequestRates(config.requests_per_minute, clock) if config.requests_per_minute else None,
        UploadAuth(config.upload_tokens) if config.upload_tokens else None,
        exempt_paths=[ROUTES.url("health", "")],  # health checks are never refused
    )
    files = build_lifecycle(config, storage, ledger, clock)
    uploads = UploadService(storage, ids, clock, config.max_upload_size, files, hashing)
    check = CheckService(storage, ids, files)
    resumable = None
    if isinstance(storage, Resumable):
        resumable = ResumableService(storage, uploads, check, ids, clock, config.resumable_ttl,
                                     config.max_upload_size)
    routes = Routes(
        uploads,
        check,
        DownloadService(storage, ids, files, clock),
        DeleteService(ids, files),
        limits,
        config.public_url,
        CorsPolicy(config.cors_origin),
        admission,
        resumable,
        config.max_upload_size,
        storage.health if isinstance(storage, HealthReport) else None,
    )
    return HttpServer(routes.session, transport_config(config), access_log,
                      ClientResolver(config.trusted_proxy, config.proxy_headers))


def build_janitor(config: Config, storage: Storage, ledger: Ledger, clock: Clock) -> Janitor:
    """The janitor of the service (run one per machine: see ``Janitor``)."""
    return Janitor(build_lifecycle(config, storage, ledger, clock), clock, config.janitor_interval)


def build_partial_janitor(config: Config, storage: Storage, clock: Clock) -> PartialJanitor | None:
    """The task that removes abandoned resumable uploads (``run`` it beside the
    server: it sweeps at once, then every quarter of ``--resumable-ttl``, at
    most hourly), or ``None`` when the store keeps none."""
    if not isinstance(storage, Resumable):
        return None
    return PartialJanitor(storage, clock, min(3600.0, config.resumable_ttl / 4))


def share(total_rate: int, workers: int) -> int:
    """One worker's part of a total rate (0, unlimited, stays 0)."""
    return max(1, total_rate // workers) if total_rate else 0
