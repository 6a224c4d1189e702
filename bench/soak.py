"""Soak test: mixed traffic against a real service for a long time, watching
for errors and for resources that creep (not part of the test suite).

    python -m bench.soak --minutes 10 [--concurrency 16]

Starts ``main.py`` on a fresh storage directory and drives it with an asyncio
client on raw sockets: uploads (Content-Length and chunked), checks (of live
and of unknown ids), full, ranged and HEAD downloads, and clients that vanish
mid-upload and mid-download. Every answer is verified (status, sha256, range
bytes); anything unexpected counts as an error. Every 10 s it samples the
server's resident memory and open file descriptors. An expiry job retires old
files (deleting them from disk, as an operator's cleanup would) so the disk
use stays bounded. At the end it prints the samples, the figures at the
start, minute 2 and the end, and greps the server log for errors.

Reading the RSS figures: with glibc's default (dynamic) mmap threshold, the
transient 256 KiB-1 MiB buffers of socket reads and disk writes end up in the
heap and fragment it, and RSS creeps up by about 1 MiB a minute while the
Python heap (tracemalloc) stays flat. ``MALLOC_MMAP_THRESHOLD_=65536`` in the
environment (inherited by the service) fixes the threshold and RSS stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import AsyncIterator

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE = 1 << 20
LIVE_FILES = 200  # beyond this, the oldest file is retired
GRACE = 5.0  # seconds between retiring a file and deleting it from disk
SAMPLE_EVERY = 10.0
OPERATIONS = {  # weights
    "upload": 15, "upload_chunked": 10, "check": 20, "check_unknown": 5, "download": 15,
    "range": 15, "head": 5, "abort_upload": 7, "abort_download": 8,
}


class Unexpected(Exception):
    """An answer the service should not have given."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def drop(self, reset: bool = False) -> None:
        if self.writer is not None:
            if reset:
                self.writer.transport.abort()
            else:
                self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes | AsyncIterator[bytes] = b"") -> Response:
        reader, writer = await self.open()
        lines = [f"{method} {path} HTTP/1.1", "Host: soak"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if isinstance(body, bytes):
            if body or method in ("POST", "PUT"):
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        else:
            lines.append("Transfer-Encoding: chunked")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            async for piece in body:
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        response = await read_response(reader, method == "HEAD")
        if response.headers.get("connection", "").lower() == "close":
            self.drop()
        return response


async def read_response(reader: asyncio.StreamReader, head_only: bool) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 60) if length else b""
    return Response(int(status_line.split()[1]), headers, body)


@dataclass
class Stored:
    id: str
    data: bytes
    sha256: str


@dataclass
class Soak:
    host: str
    port: int
    storage: Path
    rng: random.Random
    live: list[Stored] = field(default_factory=list)
    retired: deque[tuple[float, str]] = field(default_factory=deque)
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def payload(self) -> bytes:
        size = max(1, int(math.exp(self.rng.uniform(0, math.log(MAX_FILE)))))
        return self.rng.randbytes(size)

    def remember(self, data: bytes, answer: Response) -> None:
        import json

        body = json.loads(answer.body)
        if answer.status != 201 or body["sha256"] != hashlib.sha256(data).hexdigest() or body["size"] != len(data):
            raise Unexpected(f"upload answered {answer.status} {answer.body[:100]!r}")
        self.live.append(Stored(body["id"], data, body["sha256"]))
        if len(self.live) > LIVE_FILES:
            old = self.live.pop(0)
            self.retired.append((time.monotonic() + GRACE, old.id))
        while self.retired and self.retired[0][0] < time.monotonic():
            _, file_id = self.retired.popleft()
            (self.storage / "objects" / file_id[:2] / file_id).unlink()

    def pick(self) -> Stored | None:
        return self.rng.choice(self.live) if self.live else None

    async def one(self, conn: Connection, operation: str) -> None:
        stored = self.pick()
        if operation in ("check", "download", "range", "head", "abort_download") and stored is None:
            operation = "upload"
        if operation == "upload":
            data = self.payload()
            self.remember(data, await conn.request("POST", "/upload/", {
                "Content-Disposition": 'attachment; filename="soak.bin"'}, data))
        elif operation == "upload_chunked":
            data = self.payload()

            async def pieces() -> AsyncIterator[bytes]:
                for start in range(0, len(data), 65536):
                    yield data[start:start + 65536]

            self.remember(data, await conn.request("PUT", "/upload/soak.bin", None, pieces()))
        elif operation == "check":
            assert stored is not None
            answer = await conn.request("GET", f"/check/{stored.id}")
            if answer.status != 200 or f'"sha256": "{stored.sha256}"'.encode() not in answer.body:
                raise Unexpected(f"check answered {answer.status} {answer.body[:100]!r}")
        elif operation == "check_unknown":
            answer = await conn.request("GET", "/check/" + "".join(self.rng.choices("abcdefgh234567", k=26)))
            if answer.status != 404:
                raise Unexpected(f"unknown id answered {answer.status}")
        elif operation == "download":
            assert stored is not None
            answer = await conn.request("GET", f"/download/{stored.id}")
            if answer.status != 200 or hashlib.sha256(answer.body).hexdigest() != stored.sha256:
                raise Unexpected(f"download answered {answer.status}, {len(answer.body)} bytes")
        elif operation == "range":
            assert stored is not None
            start = self.rng.randrange(len(stored.data))
            end = self.rng.randrange(start, len(stored.data))
            answer = await conn.request("GET", f"/download/{stored.id}", {"Range": f"bytes={start}-{end}"})
            expected = 200 if (start, end) == (0, len(stored.data) - 1) else 206
            if answer.status != expected or answer.body != stored.data[start:end + 1]:
                raise Unexpected(f"range {start}-{end} answered {answer.status}, {len(answer.body)} bytes")
        elif operation == "head":
            assert stored is not None
            answer = await conn.request("HEAD", f"/download/{stored.id}")
            if answer.status != 200 or answer.headers.get("content-length") != str(len(stored.data)):
                raise Unexpected(f"HEAD answered {answer.status}")
        elif operation == "abort_upload":
            _, writer = await conn.open()
            writer.write(b"POST /upload/ HTTP/1.1\r\nHost: soak\r\nContent-Length: 10000000\r\n\r\n"
                         + self.rng.randbytes(self.rng.randrange(1, 3 << 20)))
            await writer.drain()
            conn.drop(reset=self.rng.random() < 0.5)
        else:  # abort_download
            assert stored is not None
            reader, writer = await conn.open()
            writer.write(f"GET /download/{stored.id} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
            await writer.drain()
            await reader.read(self.rng.randrange(1, 4096))
            conn.drop(reset=self.rng.random() < 0.5)

    async def worker(self, deadline: float) -> None:
        conn = Connection(self.host, self.port)
        names, weights = list(OPERATIONS), list(OPERATIONS.values())
        while time.monotonic() < deadline:
            operation = self.rng.choices(names, weights)[0]
            try:
                await self.one(conn, operation)
                self.done[operation] += 1
            except (Unexpected, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                self.errors[operation] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{operation}: {exc!r}")
                conn.drop(reset=True)
        conn.drop()


def proc_figures(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, open file descriptors) of process ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def sampler(soak: Soak, pid: int, started: float, deadline: float,
                  samples: list[tuple[float, int, int, int, int]]) -> None:
    while True:
        rss, fds = proc_figures(pid)
        elapsed = time.monotonic() - started
        total, errors = sum(soak.done.values()), sum(soak.errors.values())
        samples.append((elapsed, total, errors, rss, fds))
        print(f"t={elapsed:6.1f}s requests={total:8d} errors={errors} rss={rss / 1024:7.1f} MiB fds={fds}",
              flush=True)
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(min(SAMPLE_EVERY, max(0.0, deadline - time.monotonic())))


def start_service(storage: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", "0",
                             "--storage", str(storage)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://\S+:(\d+)", log_path.read_text(errors="replace"))
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the service did not start:\n{log_path.read_text(errors='replace')}")


def at(samples: list[tuple[float, int, int, int, int]], seconds: float) -> tuple[float, int, int, int, int]:
    return min(samples, key=lambda s: abs(s[0] - seconds))


async def run(minutes: float, concurrency: int, seed: int, workdir: Path) -> int:
    storage, log_path = workdir / "storage", workdir / "service.log"
    proc, port = start_service(storage, log_path)
    soak = Soak("127.0.0.1", port, storage, random.Random(seed))
    samples: list[tuple[float, int, int, int, int]] = []
    try:
        started = time.monotonic()
        deadline = started + minutes * 60
        await asyncio.gather(sampler(soak, proc.pid, started, deadline, samples),
                             *(soak.worker(deadline) for _ in range(concurrency)))
        await asyncio.sleep(1)  # let the server close the last connections
        rss, fds = proc_figures(proc.pid)
        leftovers = len(list((storage / "tmp").iterdir()))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    log = log_path.read_text(errors="replace")
    bad_lines = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    warnings = sum(1 for line in log.splitlines() if " WARNING " in line)
    total, errors = sum(soak.done.values()), sum(soak.errors.values())

    print(f"\nseed {seed}, {concurrency} clients, {minutes:g} min, service exit code {code}")
    print("requests by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(soak.done.items())))
    print(f"requests: {total}   unexpected errors: {errors}   server log: {len(bad_lines)} ERROR/Traceback "
          f"lines, {warnings} warnings   tmp/ leftovers: {leftovers}")
    for message in soak.error_samples:
        print("  error:", message)
    for line in bad_lines[:10]:
        print("  log:", line)
    print(f"{'':10} {'t (s)':>7} {'requests':>9} {'RSS MiB':>8} {'fds':>5}")
    for label, sample in (("start", samples[0]), ("minute 2", at(samples, 120)), ("end", samples[-1])):
        print(f"{label:10} {sample[0]:7.1f} {sample[1]:9d} {sample[3] / 1024:8.1f} {sample[4]:5d}")
    print(f"{'idle after':10} {'':7} {'':9} {rss / 1024:8.1f} {fds:5d}")
    two = at(samples, 120)
    print(f"minute 2 -> end: RSS {(samples[-1][3] - two[3]) / 1024:+.1f} MiB, fds {samples[-1][4] - two[4]:+d}")
    return 1 if errors or bad_lines or leftovers or code != 0 else 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description="Soak the service with mixed traffic.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the storage directory and log")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    workdir = Path(tempfile.mkdtemp(prefix="uds-soak-"))
    # SIGTERM unwinds like Ctrl-C, so the service this soak started is stopped too.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = asyncio.run(run(args.minutes, args.concurrency, seed, workdir))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
