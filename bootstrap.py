"""The composition function: builds the service from its parts.

``build_app`` is the one place that wires adapters into the domain services
and the HTTP transport, ``build_janitor`` the task that removes what expired.
``main.py`` calls them with the real store, ledger, clock and id issuer;
tests call them with fakes (an in-memory store and ledger, a virtual clock)
and drive the returned server in-process.
"""

from __future__ import annotations

from adapters.http.access_log import AccessLog, JsonAccessLog
from adapters.http.admission import Admission, RequestRates, UploadAuth
from adapters.http.clients import ClientResolver
from adapters.http.connection import TransportConfig
from adapters.http.cors import CorsPolicy
from adapters.http.operations import Operations, OperationsPort
from adapters.http.routes import ROUTES, Routes
from adapters.http.server import HttpServer
from adapters.http.static import StaticFiles
from adapters.metrics.exposition import Stored
from adapters.metrics.registry import Metrics, WorkerMetrics
from adapters.throttle import RateLimits
from config import VERSION, Config
from domain.janitor import Janitor
from domain.lifecycle import Lifecycle
from domain.resumable import PartialJanitor, ResumableService
from domain.services import CheckService, DeleteService, DownloadService, UploadService
from domain.terms import LifecyclePolicy
from ports.hashing import Hashing
from ports.ids import IdIssuer
from ports.ledger import Ledger
from ports.metrics import NO_EVENTS, ServiceEvents
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


def build_metrics(config: Config) -> Metrics:
    """The service's metrics: one region per worker, in memory the workers
    share (make it before forking them; ``WorkerMetrics(metrics, i)`` in
    worker ``i``)."""
    return Metrics(config.workers, [route.name for route in ROUTES.routes])


def build_lifecycle(config: Config, storage: Storage, ledger: Ledger, clock: Clock,
                    events: ServiceEvents = NO_EVENTS) -> Lifecycle:
    policy = LifecyclePolicy(default_ttl=config.default_ttl, max_ttl=config.max_ttl,
                             max_storage=config.max_storage)
    return Lifecycle(ledger, storage, clock, policy, events=events)


def build_operations(config: Config, storage: Storage, ledger: Ledger, clock: Clock,
                     metrics: WorkerMetrics | None) -> Operations:
    """``/healthz`` and, when ``metrics`` is given, ``/metrics``."""
    files = build_lifecycle(config, storage, ledger, clock)

    async def exposition() -> bytes:
        assert metrics is not None
        count, size = await files.stored()
        return metrics.exposition(Stored(count, size))
    return Operations(storage.health if isinstance(storage, HealthReport) else None,
                      exposition if metrics is not None else None)


def build_app(config: Config, storage: Storage, clock: Clock, ids: IdIssuer, ledger: Ledger,
              access_log: AccessLog | None = None, static: StaticFiles | None = None,
              metrics: WorkerMetrics | None = None, hashing: Hashing | None = None) -> HttpServer:
    """The HTTP server of one process (not yet listening: ``start`` it on a
    socket). With ``--workers N`` each worker process builds its own, and a
    total rate is split evenly between them, so together they never exceed it.
    ``static``: the web page's files (by default, read from ``web/`` now).
    ``metrics``: this worker's (a one-worker table of its own by default);
    ``/metrics`` is served here unless ``--metrics-listen`` is set (see
    ``build_operations_server``).
    ``hashing``: where uploads are hashed (main.py: beside the event loop,
    ``adapters/hashing.py``; default: on it)."""
    metrics = metrics or WorkerMetrics(build_metrics(config), 0)
    recorder = metrics.recorder
    limits = RateLimits(
        clock,
        upload_rate=config.upload_rate,
        download_rate=config.download_rate,
        total_upload_rate=share(config.total_upload_rate, config.workers),
        total_download_rate=share(config.total_download_rate, config.workers),
        burst=config.burst,
        client_upload_rate=config.client_upload_rate,
        client_download_rate=config.client_download_rate,
        meters=recorder,
    )
    static = static if static is not None else StaticFiles.load()
    admission = Admission(
        RequestRates(config.requests_per_minute, clock) if config.requests_per_minute else None,
        UploadAuth(config.upload_tokens) if config.upload_tokens else None,
        # Health checks and scrapes are never refused; nor are the page's
        # files (served from memory, and one page view is several of them).
        exempt_paths=[ROUTES.url("health", ""), ROUTES.url("metrics", ""),
                      *(ROUTES.url("static", "", name) for name in static.names())],
    )
    files = build_lifecycle(config, storage, ledger, clock, recorder)
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
        static,
        build_operations(config, storage, ledger, clock, None if config.metrics_listen else metrics),
        VERSION,
    )
    access_log = access_log or (JsonAccessLog() if config.log_format == "json" else AccessLog())
    return HttpServer(routes.session, transport_config(config), access_log,
                      ClientResolver(config.trusted_proxy, config.proxy_headers), recorder)


def build_operations_server(config: Config, storage: Storage, clock: Clock, ledger: Ledger,
                            metrics: WorkerMetrics, access_log: AccessLog | None = None) -> HttpServer:
    """The server of the ``--metrics-listen`` port: ``/metrics`` and
    ``/healthz`` only, no limits but the transport's."""
    port = OperationsPort(ROUTES, build_operations(config, storage, ledger, clock, metrics))
    return HttpServer(port.session, transport_config(config), access_log, metrics=metrics.recorder)


def build_janitor(config: Config, storage: Storage, ledger: Ledger, clock: Clock,
                  events: ServiceEvents = NO_EVENTS) -> Janitor:
    """The janitor of the service (run one per machine: see ``Janitor``);
    ``events``: the metrics' recorder of the worker that runs it."""
    return Janitor(build_lifecycle(config, storage, ledger, clock, events), clock, config.janitor_interval)


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
