"""MB/s of one big upload through tus, in fixed-size PATCH chunks, next to the
same file as one plain ``POST /upload/``, on one service in the same run.

    python -m bench.tus_upload                 # 1 GiB, 8 MiB chunks, 2 rounds
    python -m bench.tus_upload --size 256M --chunk 8M --rounds 3
    python -m bench.tus_upload --url http://127.0.0.1:PORT --file F   # one tus upload of F to a running
                                                                      # service (bench/run.py): prints seconds

Both clients are ``http.client`` on one keep-alive connection, sending from a
file on disk in 1 MiB blocks; the service runs with its defaults (``--fsync
always``). Rounds alternate plain and tus so that neither gets the warmer page
cache. Each line: MB/s (10^6 bytes per second) of each upload, from the first
byte sent to the final answer (201, or the last PATCH's 204).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLOCK = 1 << 20


def size_arg(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    match = re.fullmatch(r"(\d+)([KMG]?)", text.upper())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size")
    return int(match.group(1)) * units[match.group(2)]


def start(storage: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = open(storage.parent / "service.log", "wb")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--host", "127.0.0.1", "--port", "0",
                             "--storage", str(storage), "--max-upload-size", "0", "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://[^:]+:(\d+)", (storage.parent / "service.log").read_text())
        if found:
            return proc, int(found.group(1))
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the service did not start")


def plain(port: int, path: Path, size: int) -> tuple[float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, blocksize=BLOCK, timeout=600)
    started = time.perf_counter()
    with open(path, "rb") as body:
        conn.request("POST", "/upload/", body=body, headers={"Content-Length": str(size)})
        response = conn.getresponse()
        answer = response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 201, answer
    conn.close()
    return elapsed, re.search(rb'"sha256": "([0-9a-f]+)"', answer).group(1).decode()  # type: ignore[union-attr]


def tus(port: int, path: Path, size: int, chunk: int, host: str = "127.0.0.1") -> tuple[float, str]:
    conn = http.client.HTTPConnection(host, port, blocksize=BLOCK, timeout=600)
    started = time.perf_counter()
    conn.request("POST", "/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size)})
    response = conn.getresponse()
    response.read()
    assert response.status == 201, response.status
    target = "/files/" + response.getheader("Location", "").rsplit("/", 1)[1]
    offset = 0
    with open(path, "rb") as body:
        while offset < size:
            data = body.read(chunk)
            conn.request("PATCH", target, body=data, headers={
                "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream"})
            response = conn.getresponse()
            response.read()
            assert response.status == 204, response.status
            offset += len(data)
    elapsed = time.perf_counter() - started
    conn.request("GET", target)
    answer = conn.getresponse().read()
    conn.close()
    return elapsed, re.search(rb'"sha256": "([0-9a-f]+)"', answer).group(1).decode()  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=1 << 30)
    parser.add_argument("--chunk", type=size_arg, default=8 << 20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", help="upload --file once to this running service instead")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.url:
        target = urllib.parse.urlsplit(args.url)
        size = args.file.stat().st_size
        seconds, _ = tus(target.port or 80, args.file, size, args.chunk, target.hostname or "127.0.0.1")
        print(f"TUSSECONDS {seconds:.6f}")
        return
    with tempfile.TemporaryDirectory(prefix="uds-tus-bench-") as tmp:
        source = Path(tmp) / "source.bin"
        digest = hashlib.sha256()
        with open(source, "wb") as out:
            for _ in range(0, args.size, BLOCK):
                block = os.urandom(BLOCK)
                digest.update(block)
                out.write(block)
        expected = digest.hexdigest()
        proc, port = start(Path(tmp) / "storage")
        try:
            for round_ in range(1, args.rounds + 1):
                plain_s, plain_sha = plain(port, source, args.size)
                tus_s, tus_sha = tus(port, source, args.size, args.chunk)
                assert plain_sha == tus_sha == expected
                print(f"round {round_}: {args.size / 2**20:.0f} MiB  plain POST {args.size / plain_s / 1e6:7.1f} MB/s"
                      f"  tus PATCH x {args.chunk / 2**20:.0f} MiB {args.size / tus_s / 1e6:7.1f} MB/s"
                      f"  (tus/plain {plain_s / tus_s:.2f})", flush=True)
                for blob in (Path(tmp) / "storage" / "objects").rglob("*"):
                    if blob.is_file():
                        blob.unlink()  # room for the next round
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
