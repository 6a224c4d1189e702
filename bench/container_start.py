"""How long a fresh container takes to accept its first upload, and how big
the image is: the two figures a deployment cares about.

Builds the Dockerfile with podman on the local Debian base (alpine cannot be
pulled here), then, several times: ``podman run`` on a new volume, POST a
small upload every 10 ms until the first 201, then ``podman stop``. The clock
starts just before ``podman run`` is spawned, so the figure includes podman's
own container and network set-up. Everything made here is removed by name.

    .venv/bin/python -m bench.container_start [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid

import requests

from tests.e2e.conftest import ROOT
from tests.e2e.podman import Container, Podman, find_container_smoke

POLL = 0.01


def first_upload(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            response = requests.post(url + "/upload/", data=b"hello\n", timeout=2,
                                     headers={"Content-Disposition": 'attachment; filename="x.txt"'})
            if response.status_code == 201:
                return
        except requests.RequestException:
            pass
        time.sleep(POLL)
    raise SystemExit(f"no 201 from {url} in time")


def one_run(podman: Podman, image: str) -> tuple[float, float, float, int]:
    """Seconds from spawning ``podman run`` to its return and to the first
    201, seconds ``podman stop`` took, and the exit code."""
    tag = uuid.uuid4().hex[:12]
    volume, container = f"uds-bench-volume-{tag}", Container(podman, f"uds-bench-container-{tag}")
    podman("volume", "create", volume)
    try:
        started = time.monotonic()
        container.start(image, "-v", f"{volume}:/data")
        returned = time.monotonic()
        first_upload(container.url, started + 60)
        uploaded = time.monotonic()
        code = container.stop(grace=10)
        return returned - started, uploaded - started, time.monotonic() - uploaded, code
    finally:
        podman("rm", "-f", "-t", "0", container.name, check=False)
        podman("volume", "rm", "-f", volume, check=False)


def main(runs: int) -> None:
    smoke = find_container_smoke(ROOT)
    if smoke is None:
        raise SystemExit("container-smoke not found")
    podman = Podman.for_this_host()
    base = subprocess.run([str(smoke), "--base-only"], capture_output=True, text=True, check=True)
    base_image = base.stdout.strip().splitlines()[-1]
    image = f"localhost/uds-bench/upload-download-service:{uuid.uuid4().hex[:12]}"
    podman.build(ROOT, image, base_image)
    try:
        size = podman.inspect(image, kind="image")["Size"]
        base_size = podman.inspect(base_image, kind="image")["Size"]
        print(f"image {size} bytes ({size / 1e6:.1f} MB) on base {base_image} {base_size} bytes; "
              f"added by the Dockerfile: {size - base_size} bytes")
        to_upload = []
        for n in range(1, runs + 1):
            run_returned, first_201, stop, code = one_run(podman, image)
            to_upload.append(first_201)
            print(f"run {n}: podman run returned {run_returned:.3f}s, first 201 at {first_201:.3f}s, "
                  f"podman stop {stop:.3f}s, exit code {code}")
        print(f"podman run -> first 201: median {statistics.median(to_upload):.3f}s, "
              f"min {min(to_upload):.3f}s, max {max(to_upload):.3f}s over {runs} runs")
    finally:
        podman("image", "rm", "-f", image, check=False)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
