"""The metrics in Prometheus' text exposition format, version 0.0.4.

Every value is the sum over all worker processes' regions (``SharedTable.
sums``), so a scrape shows the whole service whichever worker answers it.
Request series appear once they have counted something (as client
libraries do); the other series are always there.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.metrics.layout import BUCKETS, COUNTERS, GAUGES, Layout

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name in the layout -> (metric name, help)
COUNTER_METRICS = {
    "received_bytes": ("uds_http_received_bytes_total", "Request body bytes received (bodies only, not heads)."),
    "sent_bytes": ("uds_http_sent_bytes_total", "Response body bytes sent (bodies only, not heads)."),
    "uploads_stored": ("uds_uploads_completed_total", "Uploads completed: files stored and recorded."),
    "downloads_completed": ("uds_downloads_completed_total",
                            "Download responses that sent every byte they were to send."),
    "files_deleted": ("uds_files_deleted_total", "Files deleted on their delete token."),
    "files_expired": ("uds_files_expired_total",
                      "Files removed by the janitor: expired, used up or deleted ones left behind."),
}
GAUGE_METRICS = {
    "active_uploads": ("uds_active_uploads", "Upload bodies being received now."),
    "active_downloads": ("uds_active_downloads", "Download bodies being sent now."),
}
assert set(COUNTER_METRICS) == set(COUNTERS) and set(GAUGE_METRICS) == set(GAUGES)


@dataclass(frozen=True)
class Stored:
    """What the ledger holds: stored files and their bytes."""

    files: int
    bytes: int


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _float(value: float) -> str:
    return repr(float(value))


def render(layout: Layout, ints: list[int], floats: list[float], stored: Stored, workers: int, worker: int) -> str:
    """The exposition of the summed slots ``ints`` and ``floats``, made by
    worker ``worker`` of ``workers``."""
    lines: list[str] = []
    name = "uds_http_requests_total"
    _family(lines, name, "counter", "HTTP requests answered, by route-table name (none: no route), method and status.")
    per_route = len(layout.methods) * len(layout.statuses)
    for slot in range(layout.request_slots):
        count = ints[slot]
        if count:
            route, rest = divmod(slot, per_route)
            method, status = divmod(rest, len(layout.statuses))
            lines.append(f'{name}{{route="{layout.routes[route]}",method="{layout.methods[method]}",'
                         f'status="{layout.statuses[status]}"}} {count}')
    name = "uds_http_request_duration_seconds"
    _family(lines, name, "histogram", "Time from a request's head to the end of its response, by route.")
    for index, route_name in enumerate(layout.routes):
        base = layout.route_buckets[index]
        counts = ints[base:base + len(BUCKETS) + 1]
        total = sum(counts)
        if not total:
            continue
        label = f'route="{route_name}"'
        cumulative = 0
        for bound, count in zip((*map(_float, BUCKETS), "+Inf"), counts):
            cumulative += count
            lines.append(f'{name}_bucket{{{label},le="{bound}"}} {cumulative}')
        lines.append(f"{name}_sum{{{label}}} {_float(floats[index])}")
        lines.append(f"{name}_count{{{label}}} {total}")
    for key, (name, help_text) in COUNTER_METRICS.items():
        _family(lines, name, "counter", help_text)
        lines.append(f"{name} {ints[layout.counter(key)]}")
    for key, (name, help_text) in GAUGE_METRICS.items():
        _family(lines, name, "gauge", help_text)
        lines.append(f"{name} {ints[layout.gauge(key)]}")
    name = "uds_throttle_wait_seconds_total"
    _family(lines, name, "counter", "Seconds transfers waited on speed limits, by kind of limit and direction.")
    for limit, direction in layout.waits:
        lines.append(f'{name}{{limit="{limit}",direction="{direction}"}} '
                     f'{_float(floats[layout.wait(limit, direction)])}')
    _family(lines, "uds_stored_files", "gauge", "Files in the ledger (available or waiting for the janitor).")
    lines.append(f"uds_stored_files {stored.files}")
    _family(lines, "uds_stored_bytes", "gauge", "Total size of the files in the ledger.")
    lines.append(f"uds_stored_bytes {stored.bytes}")
    _family(lines, "uds_workers", "gauge", "Worker processes whose numbers these are.")
    lines.append(f"uds_workers {workers}")
    _family(lines, "uds_metrics_worker", "gauge", "The worker (0-based) that answered this scrape; every other "
            "value is the sum over all workers, whichever answers.")
    lines.append(f"uds_metrics_worker {worker}")
    return "\n".join(lines) + "\n"
