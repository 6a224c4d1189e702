"""The load generators, each run pinned to the load CPU: wrk for request
loads (parsed from the one JSON line bench/wrk_report.lua prints), curl for
single big transfers, dd for the disk's durable-write baseline. Figures are in
bytes and seconds; MB means 10**6 bytes throughout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_report.lua")


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes: int
    seconds: float
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    command: str

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def ok_per_second(self) -> float:
        """Responses with a 2xx/3xx status per second (what a client got done)."""
        return (self.requests - self.non_2xx) / self.seconds

    def socket_error_text(self) -> str:
        return (f"{self.socket_errors} (c {self.connect_errors}, r {self.read_errors}, "
                f"w {self.write_errors}, t {self.timeouts})")


@dataclass(frozen=True)
class WrkLoad:
    """One wrk invocation: ``path`` is fetched with GET unless ``method`` and
    ``body_file`` make it an upload (``@@N@@`` in path/body = unique tag)."""

    path: str
    threads: int
    connections: int
    seconds: int
    latency: bool = False
    timeout: str = "2s"
    method: str | None = None
    body_file: Path | None = None
    content_type: str | None = None


def run_wrk(base_url: str, load: WrkLoad, cpu: int | str | None) -> WrkResult:
    url_path = load.path.replace("@@N@@", "x") if load.method else load.path
    argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds}s", "--timeout", load.timeout]
    if load.latency:
        argv.append("--latency")
    argv += ["-s", str(LUA_SCRIPT), base_url + url_path]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    env = dict(os.environ)
    if load.method and load.body_file:
        env.update(WRK_METHOD=load.method, WRK_BODY_FILE=str(load.body_file), WRK_PATH=load.path,
                   WRK_CONTENT_TYPE=load.content_type or "", WRK_TAG=os.urandom(4).hex())
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=load.seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    raw = json.loads(line[len("WRKJSON "):])
    return WrkResult(
        requests=raw["requests"], bytes=raw["bytes"], seconds=raw["duration_us"] / 1e6,
        connect_errors=raw["connect"], read_errors=raw["read"], write_errors=raw["write"],
        timeouts=raw["timeout"], non_2xx=raw["status"],
        p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        command=" ".join(argv),
    )


@dataclass(frozen=True)
class Transfer:
    """One curl transfer: ``payload`` bytes (the file's size) in ``seconds``."""

    payload: int
    seconds: float
    status: int

    @property
    def mb_per_s(self) -> float:
        return self.payload / self.seconds / 1e6


def _curl(argv: list[str], cpu: int | str | None, payload: int, what: str) -> Transfer:
    full = ["curl", "-sS", "--max-time", "900", "-o", "/dev/null",
            "-w", "%{http_code} %{size_download} %{size_upload} %{time_total}", *argv]
    if cpu is not None:
        full = ["taskset", "-c", str(cpu), *full]
    done = subprocess.run(full, capture_output=True, text=True, timeout=960)
    try:
        status_text, down, up, total = done.stdout.split()
        status = int(status_text)
    except ValueError:
        raise LoadError(f"curl {what} failed ({done.returncode}): {done.stderr.strip()}") from None
    moved = int(float(down)) if what == "download" else int(float(up))
    if done.returncode != 0 or not 200 <= status < 300 or moved < payload:
        raise LoadError(f"curl {what}: exit {done.returncode}, HTTP {status}, {moved} of {payload} bytes "
                        f"{done.stderr.strip()}")
    return Transfer(payload=payload, seconds=float(total), status=status)


def curl_download(url: str, size: int, cpu: int | str | None) -> Transfer:
    return _curl([url], cpu, size, "download")


def curl_upload(url: str, file: Path, cpu: int | str | None, multipart_field: str | None = None) -> Transfer:
    """PUT ``file`` streamed from disk (``-T``), or as a multipart form field.
    ``Expect: 100-continue`` is turned off for every server alike: HTTP/1.0
    servers never answer it and curl would wait a second before sending."""
    size = file.stat().st_size
    if multipart_field:
        argv = ["-H", "Expect:", "-F", f"{multipart_field}=@{file};filename=big.bin", url]
    else:
        argv = ["-H", "Expect:", "-T", str(file), url]
    return _curl(argv, cpu, size, "upload")


def tus_upload(base_url: str, file: Path, cpu: int | str | None, chunk: str = "8M") -> Transfer:
    """One tus upload of ``file`` (creation, then PATCHes of ``chunk`` bytes on
    one keep-alive connection: bench/tus_upload.py)."""
    argv = [sys.executable, "-m", "bench.tus_upload", "--url", base_url, "--file", str(file), "--chunk", chunk]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=960, cwd=Path(__file__).parent.parent)
    match = re.search(r"^TUSSECONDS ([\d.]+)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise LoadError(f"tus upload failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return Transfer(payload=file.stat().st_size, seconds=float(match.group(1)), status=204)


def dd_fdatasync(target: Path, mib: int, cpu: int | None) -> Transfer:
    """``dd if=/dev/zero bs=1M count=mib conv=fdatasync``: what the disk takes
    when the data must be on it before the command returns."""
    argv = ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fdatasync"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, timeout=900)
    target.unlink(missing_ok=True)
    match = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", done.stderr, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise LoadError(f"dd failed ({done.returncode}): {done.stderr.strip()}")
    return Transfer(payload=int(match.group(1)), seconds=float(match.group(2)), status=0)


SHA256_PROBE = """
import hashlib, os, time
block = os.urandom(1 << 20)
digest = hashlib.sha256()
best = 0.0
for _ in range(3):
    started = time.perf_counter()
    for _ in range(256):
        digest.update(block)
    best = max(best, 256 * len(block) / (time.perf_counter() - started))
print(best / 1e6)
"""


def sha256_rate(python: str, cpu: int | str | None) -> float:
    """MB/s of ``hashlib.sha256().update`` over 1 MiB blocks in ``python``
    on ``cpu`` (the best of three passes of 256 MiB)."""
    argv = [python, "-c", SHA256_PROBE]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    try:
        return float(done.stdout.strip())
    except ValueError:
        raise LoadError(f"sha256 probe failed ({done.returncode}): {done.stderr.strip()}") from None
