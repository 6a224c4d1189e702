"""The servers of one run and how each is started on the shared fixtures.

Every server serves the same three files (a small one for ``/check``, 1 MiB,
and the big one) and takes the same upload bodies. Peers get the files as
hard links named by an id in their own directory; ours gets them uploaded
through its API at start-up (its storage format is its own business), so its
ids differ but have the same shape and length."""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import Fixtures
from bench.figures import CEILING, OURS, PEER, REFERENCE
from bench.processes import ServerProcess, free_port, pinned

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NGINX_TEMPLATE = BENCH / "peers" / "nginx.conf.template"
SERVER_CPU, LOAD_CPU = 0, 1


@dataclass(frozen=True)
class ServerSpec:
    """What a server is and which loads apply to it. ``upload_path`` may hold
    ``@@N@@`` (a unique tag per request); ``multipart_field`` set means uploads
    are multipart forms (uploadserver), else raw bodies."""

    key: str
    label: str
    role: str
    checks: bool = True
    downloads: bool = True
    uploads: bool = True
    upload_method: str = "PUT"
    upload_path: str = "/upload/up-@@N@@.bin"
    big_upload_path: str = "/upload/big.bin"
    multipart_field: str | None = None
    service_flags: tuple[str, ...] = ()
    fixtures: tuple[str, ...] = ("check", "mib", "big")
    big: bool = True  # the big download / upload apply (when downloads / uploads do)
    small_uploads: bool = True  # the 64 KiB uploads apply (when uploads do)
    upload_client: str = "curl"  # the big upload's client: "curl", or "tus" (bench/tus_upload.py)
    log_level: str = "warning"  # ours only
    fixture_headers: tuple[str, ...] = ()  # ours only: headers of the fixtures' uploads
    cpus: str | None = None  # pin server and loads to these CPUs instead of one each (e.g. "0,1")


@dataclass
class Deployment:
    """A running server with the paths of the fixtures on it."""

    spec: ServerSpec
    server: ServerProcess
    root: Path
    check_path: str
    mib_path: str
    big_path: str


def peer_specs() -> list[ServerSpec]:
    return [
        ServerSpec("original", "original approach (ThreadingHTTPServer, HTTP/1.0)", PEER),
        ServerSpec("uploadserver", "uploadserver", PEER, checks=False, upload_method="POST",
                   upload_path="/upload", big_upload_path="/upload", multipart_field="files"),
        ServerSpec("aiohttp", "aiohttp", PEER),
        ServerSpec("starlette", "uvicorn+starlette", PEER),
        ServerSpec("nginx", "nginx", PEER),
        ServerSpec("copyparty", "copyparty", PEER, upload_path="/up-@@N@@.bin", big_upload_path="/big.bin"),
        ServerSpec("bare", "bare asyncio Protocol (ceiling)", CEILING, downloads=False, uploads=False),
        # Not peers: the figures the two-core and one-core upload targets of issue 18 are taken against.
        ServerSpec("aiohttp-2cpu", "aiohttp, two cores (server and curl unpinned)", REFERENCE, checks=False,
                   downloads=False, small_uploads=False, cpus=f"{SERVER_CPU},{LOAD_CPU}", fixtures=()),
    ]


def our_specs() -> list[ServerSpec]:
    return [
        ServerSpec("ours", "ours (default: --fsync always)", OURS),
        ServerSpec("ours-nofsync", "ours --fsync never", OURS, checks=False, downloads=False,
                   service_flags=("--fsync", "never"), fixtures=()),
        ServerSpec("ours-info", "ours --log-level info (access log on)", OURS, big=False, log_level="info",
                   fixtures=("check", "mib")),
        ServerSpec("ours-form", "ours, multipart form POST", OURS, checks=False, downloads=False,
                   upload_method="POST", upload_path="/upload/", big_upload_path="/upload/",
                   multipart_field="file", fixtures=()),
        ServerSpec("ours-tus", "ours, tus upload (PATCH x 8 MiB)", OURS, checks=False, downloads=False,
                   small_uploads=False, upload_client="tus", fixtures=()),
        ServerSpec("ours-maxdl", "ours, downloads under Max-Downloads", OURS, checks=False, uploads=False,
                   fixture_headers=("Max-Downloads: 999999999",), fixtures=("mib", "big")),
        ServerSpec("ours-2cpu", "ours, two cores (server and curl unpinned)", OURS, checks=False, downloads=False,
                   small_uploads=False, cpus=f"{SERVER_CPU},{LOAD_CPU}", fixtures=()),
    ]


class Launcher:
    """Starts servers pinned to ``cpu`` in per-server directories under
    ``workdir``; the caller stops them (``Deployment.server.stop``). Their
    files are removed with ``workdir`` at the end of the run, not between
    servers (see ``Harness.serve``)."""

    def __init__(self, workdir: Path, fixtures: Fixtures, cpu: int | None, service_python: str) -> None:
        self._workdir = workdir
        self._fixtures = fixtures
        self._cpu = cpu
        self._service_python = service_python
        self.round = 1  # in the servers' directory names: rounds of --repeat share the work directory

    def _pin(self, spec: ServerSpec) -> int | str | None:
        return spec.cpus if spec.cpus and self._cpu is not None else self._cpu

    def start(self, spec: ServerSpec, phase: str = "") -> Deployment:
        root = self._workdir / f"r{self.round}-srv-{spec.key}{'-' + phase if phase else ''}"
        root.mkdir()
        port = free_port()
        if spec.role == OURS:
            return self._start_ours(spec, root, port)
        if spec.key == "copyparty":
            return self._start_copyparty(spec, root, port)
        if spec.key == "nginx":
            argv = self._nginx_argv(root, port)
        elif spec.key == "uploadserver":
            served = root / "served"
            self._fixtures.link_into(served / "download")
            argv = [sys.executable, "-m", "uploadserver", str(port), "--bind", "127.0.0.1",
                    "--directory", str(served)]
        else:
            module = {"original": "bench.peers.original", "aiohttp": "bench.peers.aiohttp_app",
                      "aiohttp-2cpu": "bench.peers.aiohttp_app", "starlette": "bench.peers.starlette_app",
                      "bare": "bench.peers.bare_asyncio"}[spec.key]
            data, uploads = root / "data", root / "uploads"
            self._fixtures.link_into(data)
            uploads.mkdir()
            argv = [sys.executable, "-m", module, "--port", str(port), "--data", str(data), "--uploads", str(uploads)]
        return self._started(spec, argv, port, root, None, "")

    def _started(self, spec: ServerSpec, argv: list[str], port: int, root: Path, env: dict[str, str] | None,
                 prefix: str) -> Deployment:
        """Start a peer; its fixtures are at /check/<id> and /download/<id>,
        or at ``prefix`` + id when one is given."""
        server = ServerProcess(spec.label, pinned(self._pin(spec), argv), port, root / "server.log", cwd=REPO,
                               env=env)
        ids = self._fixtures.peer_ids
        deployment = Deployment(spec, server, root, f"{prefix or '/check/'}{ids['check']}",
                                f"{prefix or '/download/'}{ids['mib']}", f"{prefix or '/download/'}{ids['big']}")
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
        return deployment

    def _start_copyparty(self, spec: ServerSpec, root: Path, port: int) -> Deployment:
        """copyparty serving one read-write volume (GET downloads, PUT
        uploads into it), loopback only, quiet (no access log), plain HTTP,
        no zeroconf, no database or indexing (its defaults), one process
        (``-j 1``), its config directory under ``root``. A "check" is a GET
        of the small file: it has no metadata-only answer."""
        served, config = root / "served", root / "config"
        config.mkdir()
        self._fixtures.link_into(served)
        argv = [sys.executable, "-m", "copyparty", "-i", "127.0.0.1", "-p", str(port), "-q", "-j", "1",
                "--http-only", "--no-crt", "-v", f"{served}::rw"]
        env = {**os.environ, "XDG_CONFIG_HOME": str(config), "HOME": str(config)}
        return self._started(spec, argv, port, root, env, "/")

    def _nginx_argv(self, root: Path, port: int) -> list[str]:
        prefix, data, uploads, tmp = root / "prefix", root / "data", root / "uploads", root / "body_temp"
        for directory in (prefix, uploads, tmp):
            directory.mkdir()
        self._fixtures.link_into(data)
        conf = string.Template(NGINX_TEMPLATE.read_text()).substitute(
            user_line="user root;" if os.geteuid() == 0 else "", prefix=prefix, tmp=tmp, host="127.0.0.1",
            port=port, data=data, uploads=uploads)
        (prefix / "nginx.conf").write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]

    def _start_ours(self, spec: ServerSpec, root: Path, port: int) -> Deployment:
        argv = [self._service_python, "main.py", "--host", "127.0.0.1", "--port", str(port),
                "--storage", str(root / "storage"), "--log-level", spec.log_level, *spec.service_flags]
        server = ServerProcess(spec.label, pinned(self._pin(spec), argv), port, root / "server.log", cwd=REPO)
        try:
            server.wait_ready()
            ids = {name: self._upload_fixture(server, self._fixtures.served[name], spec.fixture_headers)
                   for name in spec.fixtures}
        except BaseException:
            server.stop()
            raise
        return Deployment(spec, server, root, f"/check/{ids.get('check', '-')}", f"/download/{ids.get('mib', '-')}",
                          f"/download/{ids.get('big', '-')}")

    def start_throttled(self, rate: int) -> Deployment:
        """Ours with ``--download-rate rate``, holding the small files only."""
        return self.start(ServerSpec("ours-throttled", f"ours --download-rate {rate}", OURS, uploads=False,
                                     fixtures=("check", "mib"), service_flags=("--download-rate", str(rate))))

    def _upload_fixture(self, server: ServerProcess, path: Path, headers: tuple[str, ...] = ()) -> str:
        extra = [arg for header in headers for arg in ("-H", header)]
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "600", "-H", "Expect:", *extra, "-T", str(path),
             f"{server.base_url}/upload/{path.name}"],
            capture_output=True, text=True, timeout=660)
        try:
            file_id: str = json.loads(done.stdout)["id"]
        except (ValueError, KeyError):
            raise RuntimeError(f"uploading {path.name} to {server.name} failed: {done.stdout[:200]} "
                               f"{done.stderr.strip()}") from None
        return file_id
