"""deploy/nginx.conf for real: nginx in front of two instances sharing one
bucket on the real SeaweedFS, its listen port and upstream servers replaced
by free loopback ports and nothing else. Requests alternate between the
instances (round robin for this test, no stickiness), and uploads, downloads
(Range too), Max-Downloads and a tus upload all go through the proxy."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from tusclient import client as tus

from tests.e2e.conftest import ROOT, Service, ServiceFactory
from tests.seaweed import SeaweedServer

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (tests/run.sh does)")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proxied_config(listen: int, upstreams: list[int]) -> str:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    text = re.sub(r"^\s*listen \[::\]:8000;\n", "", text, flags=re.MULTILINE)
    text = text.replace("listen 8000;", f"listen 127.0.0.1:{listen};")
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in upstreams)
    text = re.sub(r"(        server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text)
    return text.replace("least_conn;", "")  # round robin: consecutive requests go to different instances


@pytest.fixture
def proxy(make_service: ServiceFactory, seaweed: SeaweedServer, tmp_path: Path) -> Iterator[tuple[str, list[Service]]]:
    bucket = seaweed.new_bucket()
    backends = [make_service("--storage", f"s3://{bucket}/p", "--s3-endpoint", seaweed.endpoint,
                             "--s3-part-size", "5M", env=seaweed.environ()) for _ in range(2)]
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(proxied_config(port, [b.port for b in backends]))
    nginx = shutil.which("nginx")
    assert nginx is not None
    log = open(tmp_path / "nginx.log", "wb")
    run_as = " user root;" if os.geteuid() == 0 else ""  # workers that can use the test's temp dir
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-e", "stderr", "-g",
                                f"daemon off; pid {tmp_path}/nginx.pid;{run_as}"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "nginx.log").read_text()
            time.sleep(0.1)
        yield url, backends
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_instances_behind_the_sample_nginx_config(proxy: tuple[str, list[Service]], tmp_path: Path) -> None:
    proxy_url, backends = proxy
    data = os.urandom(7 * 1024 * 1024 + 3)
    answer = requests.post(proxy_url + "/upload/", data=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]),
                           headers={"Content-Disposition": 'attachment; filename="big.bin"'}, timeout=60).json()
    file_id = str(answer["id"])
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()  # chunked, streamed through unbuffered
    for _ in range(2):  # one request on each instance
        assert requests.get(f"{proxy_url}/check/{file_id}", timeout=10).json()["size"] == len(data)
        whole = requests.get(f"{proxy_url}/download/{file_id}", timeout=60)
        assert hashlib.sha256(whole.content).hexdigest() == answer["sha256"]
        part = requests.get(f"{proxy_url}/download/{file_id}", headers={"Range": "bytes=100-199"}, timeout=10)
        assert part.status_code == 206 and part.content == data[100:200]
    once = requests.post(proxy_url + "/upload/", data=b"once", headers={"Max-Downloads": "1"}, timeout=10).json()
    assert str(once["linkfordownload"]).startswith(proxy_url + "/")  # links name the proxy (Host passed on)
    got = [requests.get(str(once["linkfordownload"]), timeout=10).status_code for _ in range(4)]
    assert got == [200, 404, 404, 404]
    original = tmp_path / "tus.bin"
    original.write_bytes(data[:2_500_000])
    uploader = tus.TusClient(proxy_url + "/files/").uploader(str(original), chunk_size=600_000)
    uploader.upload()  # five PATCHes, alternating between the instances
    finished = requests.get(str(uploader.url), timeout=10).json()
    assert finished["sha256"] == hashlib.sha256(data[:2_500_000]).hexdigest()
    assert requests.delete(f"{proxy_url}/delete/{file_id}/{answer['deletetoken']}", timeout=10).status_code == 204
    assert requests.get(f"{proxy_url}/check/{file_id}", timeout=10).status_code == 404
    for backend in backends:  # both served downloads and tus appends
        log = backend.log()
        assert f"GET /download/{file_id}" in log and "PATCH /files/" in log
