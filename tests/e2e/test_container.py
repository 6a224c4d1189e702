"""The Dockerfile, built and run for real with podman (there is no Docker
engine here): a non-root image holding only the runtime code, serving through
a published loopback port, keeping files in its /data volume across a new
container, healthy by its own HEALTHCHECK, and exiting 0 on SIGTERM.

Skipped, with the reason, where podman or ``container-smoke`` is missing;
``.ci/run`` installs both so these run in CI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.e2e.conftest import ROOT, read_all
from tests.e2e.podman import Container, Podman, find_container_smoke, quiet

# The first run on a machine may build the Debian base image (about a minute)
# inside the first test's set-up; the tests themselves take seconds.
pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

RUNTIME_CODE = {"main.py", "config.py", "config_values.py", "bootstrap.py", "storage_setup.py", "domain", "ports",
                "adapters", "web"}


@pytest.fixture(scope="module")
def smoke() -> Path:
    script = find_container_smoke(ROOT)
    if script is None:
        pytest.skip(f"container-smoke not found at {ROOT.parent / 'shared/tools/container-smoke'} "
                    f"nor /work/shared/tools/container-smoke")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (`.ci/run` installs it with `container-smoke --base-only`)")
    return script


@pytest.fixture(scope="module")
def podman(smoke: Path) -> Podman:
    return Podman.for_this_host()


@pytest.fixture(scope="module")
def image(smoke: Path, podman: Podman) -> Iterator[str]:
    """The project image built on the local Debian base (alpine cannot be
    pulled here), under a tag of its own, removed afterwards."""
    base = subprocess.run([str(smoke), "--base-only"], capture_output=True, text=True, timeout=280)
    assert base.returncode == 0, base.stderr
    tag = f"localhost/uds-test/upload-download-service:{uuid.uuid4().hex[:12]}"
    podman.build(ROOT, tag, base.stdout.strip().splitlines()[-1])
    yield tag
    podman("image", "rm", "-f", tag, check=False)


Names = Callable[[str], str]


@pytest.fixture
def names(podman: Podman) -> Iterator[Names]:
    """``names(kind)`` makes a unique container or volume name; everything
    named here is removed (by that name) after the test."""
    made: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        name = f"uds-test-{kind}-{uuid.uuid4().hex[:12]}"
        made.append((kind, name))
        return name

    yield make
    for kind, name in reversed(made):
        if kind == "volume":
            podman("volume", "rm", "-f", name, check=False)
        else:
            podman("rm", "-f", "-t", "0", name, check=False)


def test_image_passes_container_smoke(smoke: Path, podman: Podman, names: Names) -> None:
    # A named volume, so the script's container leaves no anonymous one behind.
    volume = names("volume")
    podman("volume", "create", volume)
    result = subprocess.run(
        [str(smoke), "--path", "/healthz", "--expect", "200", "--rm-image", "--run-arg", f"--volume={volume}:/data",
         str(ROOT)], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEALTHCHECK passed" in result.stderr and "PASS" in result.stderr


def test_image_holds_only_the_runtime_code_and_runs_as_non_root(podman: Podman, image: str) -> None:
    info = podman.inspect(image, kind="image")
    config = info["Config"]
    assert config["User"] == "10001:10001"
    # An entrypoint, so flags can be appended to `run IMAGE`; no default arguments.
    assert config["Entrypoint"] == ["python3", "main.py"] and not config.get("Cmd")
    assert config["StopSignal"] == "SIGTERM"
    assert info["Healthcheck"]["Test"][:2] == ["CMD", "python3"]  # kept by --format docker
    assert "/data" in config["Volumes"] and "8000/tcp" in config["ExposedPorts"]
    assert "UDS_STORAGE=/data" in config["Env"]

    probe = ("import os; print(os.getuid(), os.getgid(), os.stat('/data').st_uid, os.access('/app', os.W_OK)); "
             "print(*sorted(os.listdir('/app')))")
    result = podman("run", "--rm", *podman.ulimits, "--health-interval=disable", "--entrypoint", "python3",
                    image, "-c", probe)
    ids, listing = result.stdout.splitlines()
    assert ids == "10001 10001 10001 False"
    assert set(listing.split()) - {"__pycache__"} == RUNTIME_CODE

    # Flags after the image name reach main.py.
    result = podman("run", "--rm", *podman.ulimits, "--health-interval=disable", image, "--version")
    assert result.stdout.startswith("upload-download-service "), result.stdout


def upload(client: requests.Session, url: str, data: bytes, name: str) -> dict[str, object]:
    response = client.post(url + "/upload/", data=data, timeout=30,
                           headers={"Content-Disposition": f'attachment; filename="{name}"'})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def download_sha256(client: requests.Session, url: str, file_id: object) -> str:
    check = client.get(f"{url}/check/{file_id}", timeout=10)
    assert check.status_code == 200, check.text
    assert check.json()["message"] == "is ready to download"
    response = client.get(f"{url}/download/{file_id}", timeout=30)
    assert response.status_code == 200
    return hashlib.sha256(response.content).hexdigest()


def test_container_serves_keeps_files_across_containers_and_stops_on_sigterm(
        podman: Podman, image: str, names: Names) -> None:
    volume = names("volume")
    podman("volume", "create", volume)
    data = os.urandom(1 << 20)
    digest = hashlib.sha256(data).hexdigest()

    first = Container(podman, names("container")).start(
        image, "-v", f"{volume}:/data", "-e", "UDS_MAX_UPLOAD_SIZE=2M")
    first.wait_ready()
    # One keep-alive connection, left open (idle) while the container is stopped, as a browser's would be.
    with requests.Session() as client:
        body = upload(client, first.url, data, "report.pdf")
        assert body["sha256"] == digest and body["linkfordownload"] == f"{first.url}/download/{body['id']}"
        assert download_sha256(client, first.url, body["id"]) == digest
        # The web page's files are in the image (web/ next to the code).
        page = client.get(first.url + "/", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and page.content == (ROOT / "web" / "index.html").read_bytes()

        # UDS_* variables reach the service: 3 MiB is refused from Content-Length alone.
        host, port = first.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3145728\r\n\r\n")
            assert read_all(sock, 10).startswith(b"HTTP/1.1 413 ")

        health = podman("healthcheck", "run", first.name, check=False)
        assert health.returncode == 0, quiet(health.stderr) + first.logs()
        assert podman.inspect(first.name)["State"]["Health"]["Status"] == "healthy"

        # podman SIGKILLs (exit code 137) if SIGTERM has not stopped the service within 10 s.
        started = time.monotonic()
        code = first.stop(grace=10)
        assert code == 0, f"exit code {code} after {time.monotonic() - started:.1f}s:\n{first.logs()}"
        logs = first.logs()
        assert "shutting down: 1 connection(s), 0 busy" in logs and "INFO uds.lifecycle: stopped" in logs

    second = Container(podman, names("container")).start(image, "-v", f"{volume}:/data")
    second.wait_ready()
    with requests.Session() as fresh_client:
        assert download_sha256(fresh_client, second.url, body["id"]) == digest
    code = second.stop(grace=10)
    assert code == 0, second.logs()
