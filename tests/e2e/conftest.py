"""Start the real service (``python main.py``) as a subprocess on port 0 with
its own storage directory, and stop it with SIGTERM (checking it exits 0)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on http://(\S+):(\d+)")


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    storage: Path
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """The log once it contains ``text`` (fails after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log:\n{log[-3000:]}")
            time.sleep(0.02)
        return log

    def raw(self, data: bytes, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
        """Send raw bytes on a fresh connection; return everything the server
        answers until it closes (or until ``timeout``)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_all(sock, timeout) if read_until_close else sock.recv(65536)

    def upload(self, data: bytes, name: str = "file.bin", **headers: str) -> dict[str, object]:
        response = requests.post(
            self.url + "/upload/", data=data, timeout=30,
            headers={"Content-Disposition": f'attachment; filename="{name}"', **headers},
        )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"service did not stop within {timeout}s after signal {sig}")
        return self.proc.returncode


def read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def start_service(storage: Path, log_path: Path, *args: str, env: dict[str, str] | None = None,
                  wait: bool = True, cwd: Path = ROOT) -> Service:
    command = [sys.executable, str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", "0",
               "--storage", str(storage), *args]
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(command, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    log_file.close()
    service = Service(proc, "127.0.0.1", 0, storage, log_path, list(args))
    if not wait:
        return service
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = LISTENING.search(service.log())
        if match:
            service.port = int(match.group(2))
            return service
        if proc.poll() is not None:
            raise AssertionError(f"service exited with {proc.returncode}:\n{service.log()}")
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise AssertionError(f"service did not start:\n{service.log()}")


ServiceFactory = Callable[..., Service]


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[ServiceFactory]:
    """``make_service(*flags)`` starts a service (in the repository, or in
    ``cwd``); all are stopped (SIGTERM, expecting exit 0) at the end of the test."""
    started: list[Service] = []
    counter = iter(range(1000))

    def make(*args: str, storage: Path | None = None, env: dict[str, str] | None = None,
             cwd: Path = ROOT) -> Service:
        n = next(counter)
        service = start_service(storage or tmp_path / f"storage{n}", tmp_path / f"service{n}.log", *args, env=env,
                                cwd=cwd)
        started.append(service)
        return service

    yield make
    failures = []
    for service in started:
        if service.proc.poll() is None:
            code = service.stop()
            if code != 0:
                failures.append(f"exit code {code}:\n{service.log()[-3000:]}")
    assert not failures, failures


@pytest.fixture
def service(make_service: ServiceFactory) -> Service:
    return make_service()
