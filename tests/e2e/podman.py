"""Drive podman the way ``shared/tools/container-smoke`` does on these hosts.

There is no Docker engine here; podman runs the same Dockerfile, but only with
the flags that script found necessary: the runc runtime, cgroupfs, file
events (no systemd), rlimits no higher than the current hard limits, the
docker image format (OCI images drop HEALTHCHECK) and no systemd health timers
(``podman healthcheck run`` instead). Every container, volume and image is
created under a name the caller chooses, so it can be removed by that name.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

SMOKE_FALLBACK = Path("/work/shared/tools/container-smoke")


def find_container_smoke(repo_root: Path) -> Path | None:
    """The script sits next to the repository (``../shared/tools``) in CI
    clones; worktrees elsewhere fall back to the shared copy."""
    for candidate in (repo_root.parent / "shared" / "tools" / "container-smoke", SMOKE_FALLBACK):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def hard_limit(which: int, cap: int) -> int:
    """The hard rlimit, capped: podman fails to raise a limit above it (no
    CAP_SYS_RESOURCE), and its defaults are higher than these hosts allow."""
    hard = resource.getrlimit(which)[1]
    return cap if hard == resource.RLIM_INFINITY or hard > cap else hard


def quiet(stderr: str) -> str:
    """podman 4 logs harmless errors when it cannot reach systemd; drop them."""
    return "\n".join(line for line in stderr.splitlines()
                     if "systemd connection" not in line and "/run/systemd/private" not in line)


@dataclass(frozen=True)
class Podman:
    command: tuple[str, ...]
    ulimits: tuple[str, ...]

    @classmethod
    def for_this_host(cls) -> Podman:
        runtime = os.environ.get("CONTAINER_SMOKE_RUNTIME") or ("runc" if shutil.which("runc") else "crun")
        nofile = hard_limit(resource.RLIMIT_NOFILE, 1048576)
        nproc = hard_limit(resource.RLIMIT_NPROC, 32768)
        return cls(
            ("podman", "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file"),
            ("--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"),
        )

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``podman ARGS``; with ``check``, a non-zero exit fails the test
        with podman's own message."""
        result = subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{quiet(result.stderr)}")
        return result

    def build(self, context: Path, tag: str, base: str) -> None:
        self("build", "-q", "--format", "docker", *self.ulimits, "--build-arg", f"BASE={base}",
             "-t", tag, str(context), timeout=240)

    def inspect(self, *names: str, kind: str = "container") -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self(kind, "inspect", *names).stdout)
        return found[0]


@dataclass
class Container:
    """A detached container with container port 8000 published on a port of
    127.0.0.1 that podman picked (the container twin of ``--port 0``)."""

    podman: Podman
    name: str
    url: str = ""

    def start(self, image: str, *run_args: str) -> Container:
        self.podman("run", "-d", "--name", self.name, *self.podman.ulimits, "--health-interval=disable",
                    "-p", "127.0.0.1::8000", *run_args, image)
        address = self.podman("port", self.name, "8000/tcp").stdout.split()[0]
        self.url = "http://" + address
        return self

    def logs(self) -> str:
        result = self.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.podman.inspect(self.name)["State"]
        return state

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``GET /healthz`` through the published port until it answers
        200; fail early, with the logs, if the container stops."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if not self.state()["Running"]:
                raise AssertionError(f"container {self.name} stopped before answering:\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"container {self.name} did not answer within {timeout}s:\n{self.logs()}")

    def stop(self, grace: int) -> int:
        """``podman stop``: the image's STOPSIGNAL, then SIGKILL (exit code
        137) if the service has not exited after ``grace`` seconds. Returns the
        exit code."""
        self.podman("stop", "-t", str(grace), self.name, timeout=grace + 60)
        state = self.state()
        assert state["Status"] == "exited", state
        code: int = state["ExitCode"]
        return code
