"""The real service with --storage s3://... on the real SeaweedFS of
tests/seaweed.py: uploads (raw and curl -F, one large enough for multipart),
check, downloads (Range too), delete, and the refusals at start-up."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from adapters.s3.endpoint import Endpoint
from tests.e2e.conftest import ROOT, Service, ServiceFactory
from tests.seaweed import SeaweedServer

pytestmark = pytest.mark.e2e


def s3_service(make_service: ServiceFactory, seaweed: SeaweedServer, tmp_path: Path, bucket: str,
               *flags: str) -> Service:
    return make_service("--storage", f"s3://{bucket}/files", "--s3-endpoint", seaweed.endpoint,
                        "--s3-part-size", "5M", *flags,
                        env=seaweed.environ())


def bucket_keys(seaweed: SeaweedServer, bucket: str) -> list[str]:
    endpoint = Endpoint(seaweed.settings(bucket))
    try:
        reply = endpoint.request("GET", "", [("list-type", "2")])
    finally:
        endpoint.close()
    return [part.split("</Key>")[0] for part in reply.body.decode().split("<Key>")[1:]]


def test_upload_check_download_and_delete_through_s3(make_service: ServiceFactory, seaweed: SeaweedServer,
                                                     tmp_path: Path) -> None:
    bucket = seaweed.new_bucket()
    service = s3_service(make_service, seaweed, tmp_path, bucket)
    assert f"storage s3://{bucket}/files/ at {seaweed.endpoint}" in service.log()
    data = os.urandom(12 * 1024 * 1024 + 5)  # three parts of 5M
    body = service.upload(data, name="gro\u00dfe datei.bin")
    file_id = str(body["id"])
    assert body["size"] == len(data) and body["sha256"] == hashlib.sha256(data).hexdigest()
    assert sorted(bucket_keys(seaweed, bucket))[0] == f"files/blobs/{file_id}"

    check = requests.get(f"{service.url}/check/{file_id}", timeout=10)
    assert check.status_code == 200 and check.json()["size"] == len(data)
    download = requests.get(f"{service.url}/download/{file_id}", timeout=30)
    assert download.status_code == 200 and download.content == data
    assert "gro%C3%9Fe%20datei.bin" in download.headers["Content-Disposition"]
    ranged = requests.get(f"{service.url}/download/{file_id}", headers={"Range": "bytes=6000000-6000099"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == data[6000000:6000100]
    tail = requests.get(f"{service.url}/download/{file_id}", headers={"Range": "bytes=-10"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[-10:]

    if shutil.which("curl"):
        source = tmp_path / "r\u00e9sum\u00e9.txt"
        source.write_bytes(b"a form upload\n" * 1000)
        form = subprocess.run(["curl", "-s", "-F", f"file=@{source}", service.url + "/upload/"],
                              capture_output=True, text=True, timeout=60, check=True)
        uploaded = json.loads(form.stdout)
        got = requests.get(str(uploaded["linkfordownload"]), timeout=10)
        assert got.content == source.read_bytes()
        assert requests.delete(str(uploaded["linkfordelete"]), timeout=10).status_code == 204

    deleted = requests.delete(str(body["linkfordelete"]), timeout=10)
    assert deleted.status_code == 204
    assert requests.get(f"{service.url}/check/{file_id}", timeout=10).status_code == 404
    assert requests.get(f"{service.url}/download/{file_id}", timeout=10).status_code == 404
    health = requests.get(f"{service.url}/healthz", timeout=10)
    assert health.status_code == 200


def run_main(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", "0", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def test_bad_credentials_or_a_missing_bucket_refuse_to_start(seaweed: SeaweedServer, tmp_path: Path) -> None:
    bucket = seaweed.new_bucket()
    flags = ["--s3-endpoint", seaweed.endpoint]
    wrong = run_main("--storage", f"s3://{bucket}", *flags,
                     env={**seaweed.environ(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"main.py: error: S3 bucket '{bucket}' at {seaweed.endpoint}: access denied: check AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY (403 Forbidden)"]
    missing = run_main("--storage", "s3://no-such-bucket/x", *flags, env=seaweed.environ())
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"main.py: error: S3 bucket 'no-such-bucket' at {seaweed.endpoint}: no such bucket (404 NotFound)"]
    no_keys = run_main("--storage", f"s3://{bucket}", *flags,
                       env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert no_keys.returncode == 1
    assert no_keys.stderr.strip().splitlines() == [
        "main.py: error: S3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"]


def test_forked_workers_each_reach_the_bucket(make_service: ServiceFactory, seaweed: SeaweedServer,
                                              tmp_path: Path) -> None:
    bucket = seaweed.new_bucket()
    service = s3_service(make_service, seaweed, tmp_path, bucket, "--workers", "2")
    uploaded = [service.upload(os.urandom(1000 + n)) for n in range(6)]  # new connections: both workers serve
    for body in uploaded:
        got = requests.get(str(body["linkfordownload"]), timeout=10)
        assert got.status_code == 200 and len(got.content) == body["size"]
    assert len([k for k in bucket_keys(seaweed, bucket) if k.startswith("files/blobs/")]) == 6
