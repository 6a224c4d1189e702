"""The habits of shell users and web pages, with the real clients against the
real process: ``curl --upload-file`` to the root, ``Accept: text/plain``,
``-w '%header{location}'``, ``wget URL`` and ``curl -O URL`` on the named
download link, and CORS from requests playing a browser."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.test_clients import need, run

pytestmark = pytest.mark.e2e


def test_curl_upload_file_to_the_root_then_a_text_answer(service: Service, tmp_path: Path) -> None:
    curl = need("curl")
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello, world\n")
    uploaded = run(curl, "-s", "--upload-file", str(source), service.url + "/")
    body = json.loads(uploaded.stdout)
    assert body["status"] == 201 and body["fileisuploaded"] == "hello.txt", uploaded
    assert uploaded.stdout.endswith("}\n")  # the prompt after it starts on a line of its own

    plain = run(curl, "-s", "-H", "Accept: text/plain", "-T", str(source), service.url + "/greeting.txt")
    # The download link on the first line, the delete link (issue 14) on the second, the share page (issue 16)
    # on the third.
    link, delete, share, end = plain.stdout.split("\n")
    assert link.startswith(service.url + "/download/") and delete.startswith(service.url + "/delete/"), plain
    assert share == link.replace("/download/", "/share/") and end == ""
    assert run(curl, "-s", link).stdout == "hello, world\n"

    location = run(curl, "-s", "-o", "/dev/null", "-w", "%header{location}\n", "-T", str(source),
                   service.url + "/upload/")
    assert location.stdout.startswith(service.url + "/download/") and location.stdout.count("\n") == 1, location

    # Paths the service owns keep their meaning.
    refused = run(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(source), service.url + "/check/x")
    assert refused.stdout == "405"


@pytest.mark.parametrize("name", ["report.pdf", "two words.txt"])
def test_wget_and_curl_remote_name_save_the_real_name(service: Service, tmp_path: Path, name: str) -> None:
    wget, curl = need("wget"), need("curl")
    data = os.urandom(10_000)
    body = service.upload(data, name)
    named = str(body["linkfordownloadnamed"])
    assert named.startswith(f"{service.url}/download/{body['id']}/")

    by_wget = tmp_path / "wget"
    by_wget.mkdir()
    fetched = run(wget, "-q", "-P", str(by_wget), named)
    assert fetched.returncode == 0, fetched.stderr
    assert [p.name for p in by_wget.iterdir()] == [name]
    assert (by_wget / name).read_bytes() == data

    if " " in name:
        return  # curl -O keeps the URL's %20 in the saved name: no client-side decoding to test there
    by_curl = tmp_path / "curl"
    by_curl.mkdir()
    fetched = run(curl, "-s", "-O", "--output-dir", str(by_curl), named)
    assert fetched.returncode == 0, fetched.stderr
    assert [p.name for p in by_curl.iterdir()] == [name]
    assert (by_curl / name).read_bytes() == data


def test_cors_preflight_and_cross_origin_requests(make_service: ServiceFactory) -> None:
    service = make_service("--cors-origin", "https://app.example", env={"UDS_CORS_ORIGIN": ""})
    preflight = requests.options(service.url + "/upload/", timeout=5, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,content-disposition"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, PUT"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Content-Type, Content-Disposition"

    allowed = requests.post(service.url + "/upload/", data=b"from a page", timeout=5, headers={
        "Origin": "https://app.example", "Content-Disposition": 'attachment; filename="page.txt"'})
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Location" in allowed.headers["Access-Control-Expose-Headers"].split(", ")

    refused = requests.post(service.url + "/upload/", data=b"from elsewhere", timeout=5,
                            headers={"Origin": "https://evil.example"})
    assert refused.status_code == 201  # the server still answers; the browser withholds it from the page
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
    refused_preflight = requests.options(service.url + "/upload/", timeout=5, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused_preflight.status_code == 405
    assert "Access-Control-Allow-Origin" not in refused_preflight.headers


def test_cors_is_off_by_default(service: Service) -> None:
    preflight = requests.options(service.url + "/upload/", timeout=5, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405 and "Access-Control-Allow-Origin" not in preflight.headers
