"""The throttled-scale load: ours started with ``--download-rate R``, N
concurrent downloads from bench/throttled_clients.py (on the load CPU). The
aggregate should be N x R; the server's CPU time over the same window says
what holding N slow connections costs."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.cpu_meter import CpuMeter
from bench.figures import ThrottledFigures
from bench.processes import PeakRss, pinned
from bench.servers import REPO, Deployment


def run_throttled(deployment: Deployment, connections: int, rate: int, warmup: float, window: float,
                  server_cpu: int | None, cpu: int | None) -> ThrottledFigures:
    server = deployment.server
    argv = pinned(cpu, [sys.executable, "-m", "bench.throttled_clients", "--port", str(server.port),
                        "--path", deployment.mib_path, "--connections", str(connections),
                        "--warmup", str(warmup), "--window", str(window)])
    cpu_at: dict[str, float] = {}
    result: dict[str, float] = {}
    with PeakRss(server) as peak, CpuMeter(server, server_cpu, cpu) as meter:
        client = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert client.stdout is not None
            for line in client.stdout:
                word = line.strip()
                if word in ("window-start", "window-end"):
                    cpu_at[word] = server.cpu_seconds()
                elif word.startswith("RESULT "):
                    result = json.loads(word[len("RESULT "):])
            client.wait(timeout=60)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    if client.returncode != 0 or not result or len(cpu_at) != 2:
        stderr = client.stderr.read() if client.stderr else ""
        raise RuntimeError(f"throttled clients failed ({client.returncode}): {stderr.strip()[-300:]}")
    seconds = result["window_seconds"]
    return ThrottledFigures(
        connections=connections, rate_per_connection=rate, connected=int(result["connected"]),
        ok=int(result["ok"]), connect_failures=int(result["connect_failures"]),
        ended_early=int(result["ended_early"]), window_seconds=seconds,
        aggregate_bytes_per_s=result["aggregate_bytes_per_s"],
        window_count_bytes_per_s=result["window_count_bytes_per_s"], unmeasured=int(result["unmeasured"]),
        server_cpu_fraction=(cpu_at["window-end"] - cpu_at["window-start"]) / seconds, cpu=meter.shares,
        peak_rss_mib=peak.mib, per_connection_p1=result["per_connection_p1"],
        per_connection_p50=result["per_connection_p50"], per_connection_p99=result["per_connection_p99"],
    )
