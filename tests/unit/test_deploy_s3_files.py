"""The sample deployment of several instances on one bucket: the nginx
config is one nginx accepts (``nginx -t``, when nginx is installed: run.sh
installs it) and streams both ways; the compose file is valid YAML with
SeaweedFS and two instances that name only real settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
NGINX = ROOT / "deploy" / "nginx.conf"
COMPOSE = ROOT / "deploy" / "compose-s3.yaml"


def _directives(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_nginx_config_streams_both_ways_to_every_instance() -> None:
    lines = _directives(NGINX.read_text())
    assert "proxy_request_buffering off;" in lines and "proxy_buffering off;" in lines
    assert "client_max_body_size 0;" in lines
    assert len([line for line in lines if re.match(r"server 127\.0\.0\.1:\d+ ", line)]) >= 2
    assert not any("non_idempotent" in line for line in lines)  # an upload is never replayed elsewhere
    text = "\n".join(lines)
    assert text.count("{") == text.count("}")


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (tests/run.sh installs it)")
def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    nginx = shutil.which("nginx")
    assert nginx is not None
    result = subprocess.run([nginx, "-t", "-c", str(NGINX), "-p", str(tmp_path), "-e", "stderr",
                             "-g", f"pid {tmp_path}/nginx.pid;"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_compose_file_runs_seaweedfs_and_two_instances_of_one_bucket() -> None:
    compose: Any = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"seaweedfs", "create-bucket", "uds-1", "uds-2"} <= set(services)
    assert "-s3" in services["seaweedfs"]["command"].split()
    one, two = services["uds-1"], services["uds-2"]
    assert one["environment"] == two["environment"]
    assert one["ports"] != two["ports"]
    env = one["environment"]
    assert env["UDS_STORAGE"].startswith("s3://") and env["UDS_S3_ENDPOINT"] == "http://seaweedfs:8333"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    known = {"UDS_" + option.upper() for option in OPTIONS}
    unknown = {name for name in env if name.startswith("UDS_")} - known
    assert not unknown, f"unknown settings: {sorted(unknown)}"
    assert one["depends_on"]["create-bucket"]["condition"] == "service_completed_successfully"
