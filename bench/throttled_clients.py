"""Many slow downloads at once: opens N keep-alive connections to one URL, each
downloading it, and measures what arrives in a window that starts after a
warm-up (so the token buckets' initial burst is not counted).

A throttled server sends in paced slices (16 KiB every 1.6 s at 10000 B/s),
so counting bytes between two instants is off by up to a slice per
connection. Each connection's rate is therefore taken between slices: the
bytes of the slices that arrived in the window after the first one, divided by
the time from the first slice's arrival to the last's (arrivals less than
``GAP`` apart are one slice). The aggregate is the sum of those rates; the
plain count of bytes in the window is reported too.

Prints ``window-start`` and ``window-end`` lines as the window opens and
closes (the harness samples the server's CPU time at both), then one
``RESULT {...}`` JSON line.

    python3 -m bench.throttled_clients --port 8000 --path /download/<id> --connections 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Sequence


GAP = 0.05


class Download(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received = 0
        self.head = b""
        self.arrivals: list[tuple[float, int]] = []  # (time, bytes received so far), while recording
        self.recording = False
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if len(self.head) < 16:
            self.head += data[:16]
        self.received += len(data)
        if self.recording:
            self.arrivals.append((time.monotonic(), self.received))

    def paced_rate(self, start: float, end: float) -> float | None:
        """Bytes/s between the first and the last slice that began in [start, end]."""
        slices: list[tuple[float, int]] = []  # (arrival of a slice's first bytes, bytes received by its end)
        last = -1.0
        for at, total in self.arrivals:
            if at - last > GAP:
                if at > end:
                    break
                if at >= start:
                    slices.append((at, total))
            elif slices and at >= start:
                slices[-1] = (slices[-1][0], total)
            last = at
        if len(slices) < 2 or slices[-1][0] <= slices[0][0]:
            return None
        return (slices[-1][1] - slices[0][1]) / (slices[-1][0] - slices[0][0])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def ok(self) -> bool:
        return self.head.startswith(b"HTTP/1.1 200") or self.head.startswith(b"HTTP/1.0 200")


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def measure(host: str, port: int, path: str, connections: int, warmup: float, window: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    downloads: list[Download] = []
    failures = 0
    opening = asyncio.Semaphore(100)

    async def open_one() -> None:
        nonlocal failures
        async with opening:
            try:
                _, protocol = await loop.create_connection(lambda: Download(request), host, port)
                downloads.append(protocol)
            except OSError:
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(connections)))
    opened = time.monotonic() - started
    await asyncio.sleep(warmup)
    for d in downloads:
        d.recording = True
    before = [d.received for d in downloads]
    print("window-start", flush=True)
    t0 = time.monotonic()
    await asyncio.sleep(window)
    after = [d.received for d in downloads]
    t1 = time.monotonic()
    elapsed = t1 - t0
    print("window-end", flush=True)
    counted = sum(b - a for a, b in zip(before, after)) / elapsed
    paced = [d.paced_rate(t0, t1) for d in downloads]
    rates = [r for r in paced if r is not None]
    ok = sum(1 for d in downloads if d.ok)
    ended_early = sum(1 for d in downloads if d.closed.done())
    for d in downloads:
        if d.transport is not None:
            d.transport.close()
    return {
        "connections": connections, "connected": len(downloads), "ok": ok, "connect_failures": failures,
        "ended_early": ended_early, "open_seconds": round(opened, 3), "window_seconds": round(elapsed, 3),
        "aggregate_bytes_per_s": sum(rates), "window_count_bytes_per_s": counted,
        "unmeasured": len(paced) - len(rates), "per_connection_p1": percentile(rates, 0.01),
        "per_connection_p50": percentile(rates, 0.50), "per_connection_p99": percentile(rates, 0.99),
        "per_connection_min": min(rates, default=0.0), "per_connection_max": max(rates, default=0.0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the window opens")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    args = parser.parse_args(argv)
    raise_fd_limit(args.connections + 256)
    result = asyncio.run(measure(args.host, args.port, args.path, args.connections, args.warmup, args.window))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
