"""What one run measured, per server and overall, before it is rendered."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cpu_meter import CpuShares
from bench.loads import Transfer, WrkResult

PEER = "peer"
OURS = "ours"
CEILING = "ceiling"
REFERENCE = "reference"  # a figure a target is taken against, not a peer (never the best peer)


@dataclass
class ServerFigures:
    """Figures of one server; ``None`` where the load does not apply or failed
    (``errors`` then says why, by load name)."""

    key: str
    label: str
    role: str
    check: WrkResult | None = None
    seed: WrkResult | None = None
    mib_downloads: WrkResult | None = None
    big_download: Transfer | None = None
    big_download_rss_mib: float | None = None
    big_upload: Transfer | None = None
    big_upload_rss_mib: float | None = None
    small_uploads: WrkResult | None = None
    errors: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, CpuShares] = field(default_factory=dict)  # by load name, as in ``errors``


@dataclass(frozen=True)
class ThrottledFigures:
    connections: int
    rate_per_connection: int
    connected: int
    ok: int
    connect_failures: int
    ended_early: int
    window_seconds: float
    aggregate_bytes_per_s: float
    window_count_bytes_per_s: float
    unmeasured: int
    server_cpu_fraction: float
    cpu: CpuShares
    peak_rss_mib: float
    per_connection_p1: float
    per_connection_p50: float
    per_connection_p99: float

    @property
    def target_bytes_per_s(self) -> int:
        return self.connections * self.rate_per_connection


@dataclass(frozen=True)
class Hotspot:
    function: str
    self_percent: float
    total_percent: float


@dataclass(frozen=True)
class Profile:
    """Top functions of the service's event-loop thread under one load
    (py-spy samples; idle time in the selector counts as a function)."""

    title: str
    command: str
    samples: int
    loop_hotspots: list[Hotspot]
    own_hotspots: list[Hotspot]
    worker_hotspots: list[Hotspot]
    worker_samples: int
    raw_file: str


@dataclass
class RunFigures:
    date: str
    command: str
    mode: str
    machine: list[tuple[str, str]]
    versions: list[tuple[str, str]]
    seconds: int
    big_mib: int
    servers: list[ServerFigures] = field(default_factory=list)
    dd: Transfer | None = None
    dd_error: str | None = None
    throttled: ThrottledFigures | None = None
    throttled_error: str | None = None
    profiles: list[Profile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sha256_mb_s: float | None = None  # hashlib.sha256 over 1 MiB blocks, on the server's CPU
    rounds: list[RunFigures] = field(default_factory=list)  # with --repeat: every round (this holds the medians)

    def server(self, key: str) -> ServerFigures | None:
        return next((s for s in self.servers if s.key == key), None)
