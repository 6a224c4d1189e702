"""Two real service processes on different ports sharing one bucket on the
real SeaweedFS of tests/seaweed.py, with no sticky sessions: whatever one
instance did, the other sees, because files, the ledger and tus uploads all
live in the bucket."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import requests
from tusclient import client as tus

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.tus_tools import downloaded_sha256, server_offset
from tests.seaweed import SeaweedServer

pytestmark = pytest.mark.e2e
TUS = {"Tus-Resumable": "1.0.0"}


def instances(make_service: ServiceFactory, seaweed: SeaweedServer, *flags: str) -> tuple[Service, Service]:
    bucket = seaweed.new_bucket()
    one, two = (make_service("--storage", f"s3://{bucket}/shared", "--s3-endpoint", seaweed.endpoint,
                             "--s3-part-size", "5M", *flags, env=seaweed.environ()) for _ in range(2))
    assert one.port != two.port
    return one, two


def test_upload_on_one_check_download_and_delete_on_the_other(make_service: ServiceFactory,
                                                              seaweed: SeaweedServer) -> None:
    one, two = instances(make_service, seaweed)
    data = os.urandom(6 * 1024 * 1024 + 77)
    body = one.upload(data, name="shared.bin")
    file_id = str(body["id"])
    check = requests.get(f"{two.url}/check/{file_id}", timeout=10)
    assert check.status_code == 200 and check.json()["size"] == len(data)
    whole = requests.get(f"{two.url}/download/{file_id}", timeout=60)
    assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == body["sha256"]
    ranged = requests.get(f"{two.url}/download/{file_id}", headers={"Range": "bytes=5242870-5242899"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == data[5242870:5242900]
    token = str(body["deletetoken"])
    assert requests.delete(f"{two.url}/delete/{file_id}/{token}", timeout=10).status_code == 204
    for service in (one, two):
        assert requests.get(f"{service.url}/check/{file_id}", timeout=10).status_code == 404
        assert requests.get(f"{service.url}/download/{file_id}", timeout=10).status_code == 404
    other = one.upload(b"deleted through the first", name="b.txt")
    assert requests.delete(str(other["linkfordelete"]), timeout=10).status_code == 204
    assert requests.get(f"{two.url}/check/{other['id']}", timeout=10).status_code == 404


def test_max_downloads_are_counted_across_instances(make_service: ServiceFactory, seaweed: SeaweedServer) -> None:
    one, two = instances(make_service, seaweed)
    once = str(one.upload(b"only once", **{"Max-Downloads": "1"})["id"])
    assert requests.get(f"{two.url}/download/{once}", timeout=10).content == b"only once"
    for service in (one, two):
        assert requests.get(f"{service.url}/download/{once}", timeout=10).status_code == 404
    thrice = str(two.upload(b"three times", **{"Max-Downloads": "3"})["id"])
    got = [requests.get(f"{s.url}/download/{thrice}", timeout=10) for s in (one, two, one, two, one)]
    assert [r.status_code for r in got] == [200, 200, 200, 404, 404]
    ranged = str(one.upload(b"0123456789", **{"Max-Downloads": "1"})["id"])
    part = requests.get(f"{two.url}/download/{ranged}", headers={"Range": "bytes=0-3"}, timeout=10)
    assert part.status_code == 206 and part.content == b"0123"  # stops short of the end: not counted
    assert requests.get(f"{one.url}/download/{ranged}", timeout=10).content == b"0123456789"
    assert requests.get(f"{two.url}/download/{ranged}", timeout=10).status_code == 404


def test_a_tus_upload_started_on_one_instance_is_finished_on_the_other(make_service: ServiceFactory,
                                                                       seaweed: SeaweedServer, tmp_path: Path) -> None:
    one, two = instances(make_service, seaweed)
    original = tmp_path / "tus.bin"
    data = os.urandom(3 * 1024 * 1024 + 11)
    original.write_bytes(data)
    created = requests.post(one.url + "/files/", timeout=10, headers={
        **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": "filename dHVzLmJpbg=="})
    assert created.status_code == 201
    upload_url = created.headers["Location"]
    upload_id = upload_url.rstrip("/").rsplit("/", 1)[1]
    first = requests.patch(f"{one.url}/files/{upload_id}", data=data[:1_000_000], timeout=30, headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "1000000"
    on_two = f"{two.url}/files/{upload_id}"
    assert server_offset(on_two) == 1_000_000
    uploader = tus.TusClient(two.url + "/files/").uploader(str(original), url=on_two, chunk_size=700_000)
    uploader.upload()
    assert server_offset(f"{one.url}/files/{upload_id}") == len(data)  # finished, seen from the first too
    assert downloaded_sha256(f"{one.url}/files/{upload_id}") == hashlib.sha256(data).hexdigest()
