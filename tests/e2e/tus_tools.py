"""Tools for the tus end-to-end tests: a TCP proxy that cuts one connection
midway, the tus-js-client runner, and small HTTP helpers."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Iterator

import requests

TUSJS = Path(__file__).resolve().parent / "tusjs"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def server_offset(upload_url: str) -> int:
    response = requests.head(upload_url, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
    assert response.status_code == 200, response
    return int(response.headers["Upload-Offset"])


def settled_offset(upload_url: str, timeout: float = 30.0) -> int:
    """The offset once no request holds the upload any more: after a client
    dies, the server goes on reading what its socket had buffered until it
    sees the end (an empty append at the reported offset is 423 until then)."""
    deadline = time.monotonic() + timeout
    while True:
        offset = server_offset(upload_url)
        response = requests.patch(upload_url, timeout=10, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"})
        if response.status_code == 204:
            return offset
        assert response.status_code in (409, 423) and time.monotonic() < deadline, response
        time.sleep(0.05)


def downloaded_sha256(upload_url: str) -> str:
    """The sha256 of the file a finished upload became, downloaded through
    the link ``GET /files/<id>`` gives, checked against the recorded one."""
    answer = requests.get(upload_url, timeout=10).json()
    body = requests.get(answer["linkfordownload"], timeout=60).content
    digest = hashlib.sha256(body).hexdigest()
    assert digest == answer["sha256"]
    return digest


def tusjs_missing() -> str | None:
    """Why tus-js-client cannot run here, or ``None``."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (TUSJS / "node_modules" / "tus-js-client").is_dir():
        return "tus-js-client is not installed: run `npm ci` in tests/e2e/tusjs (tests/run.sh does)"
    return None


def start_tusjs(**options: object) -> subprocess.Popen[str]:
    """``node upload.js`` with ``options``; it prints one JSON event a line."""
    return subprocess.Popen(["node", str(TUSJS / "upload.js"), json.dumps(options)], stdout=subprocess.PIPE,
                            text=True, cwd=TUSJS)


def events(stream: IO[str] | None) -> Iterator[dict[str, object]]:
    assert stream is not None
    for line in stream:
        yield json.loads(line)


class CuttingProxy:
    """Forwards 127.0.0.1 connections to ``port``, counting what clients send;
    the connection during which that count passes ``cut_after`` is cut once:
    reset towards the client, ended towards the server. Threads; ``close`` stops everything."""

    def __init__(self, port: int, cut_after: int) -> None:
        self._target = port
        self._cut_after = cut_after
        self.sent = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                if upstream:
                    with self._lock:
                        self.sent += len(data)
                        cut = self.cuts == 0 and self.sent > self._cut_after
                        if cut:
                            self.cuts += 1
                    if cut:
                        # The client's side is reset (shutdown first: a close
                        # alone would not wake the other thread's recv). The
                        # server's side gets an end of stream after what was
                        # forwarded: a reset would let its kernel throw away
                        # bytes it had already acknowledged but the service
                        # had not read yet, which on a loaded machine is most
                        # of them, and the test would measure the scheduler.
                        source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        source.shutdown(socket.SHUT_RDWR)
                        source.close()
                        sink.shutdown(socket.SHUT_WR)
                        return
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
