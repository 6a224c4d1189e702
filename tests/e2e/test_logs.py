"""``--log-format json`` on the real process: every line it writes is one
JSON object, and the access lines say what the requests were (request id as
the answer's ``X-Request-Id``, status, bytes, client, user agent)."""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory, read_all

pytestmark = pytest.mark.e2e

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HOSTILE_AGENT = 'evil" , "status": 200}\\n{"level": "ERROR", "x": "caf\xe9\\u2028'


def raw(service: Service, data: bytes) -> tuple[bytes, dict[str, str]]:
    """One request on its own connection: the answer's head and headers."""
    with socket.create_connection((service.host, service.port), timeout=5) as sock:
        sock.sendall(data)
        answer = read_all(sock, 5)
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
    return answer, headers


def parsed_log(service: Service) -> list[dict[str, Any]]:
    lines = service.log().splitlines()
    assert lines
    entries = []
    for line in lines:
        assert line.isascii(), line
        entry = json.loads(line)  # every line, whatever wrote it
        assert isinstance(entry, dict) and STAMP.fullmatch(entry["time"]), line
        stamp = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 120, line
        assert entry["level"] in ("INFO", "WARNING", "ERROR") and entry["logger"].startswith("uds"), line
        entries.append(entry)
    return entries


def test_every_line_is_json_and_access_lines_match_the_requests(make_service: ServiceFactory) -> None:
    service = make_service("--log-format", "json", env={"TZ": "EST+05"})
    data = b"x" * 12345
    upload = requests.post(service.url + "/upload/a.txt", data=data, timeout=10,
                           headers={"X-Request-Id": "client-chosen-1", "User-Agent": "e2e-test/1.0"})
    assert upload.status_code == 201 and upload.headers["X-Request-Id"] == "client-chosen-1"
    file_id = upload.json()["id"]
    check = requests.get(f"{service.url}/check/{file_id}", timeout=10, headers={"X-Request-Id": "bad id"})
    download = requests.get(f"{service.url}/download/{file_id}", timeout=10)
    missing = requests.get(f"{service.url}/check/nothere", timeout=10)
    hostile, hostile_headers = raw(service, b'GET /check/x%22"}\\n{"forged":1 HTTP/1.1\r\nHost: h\r\nUser-Agent: '
                                   + HOSTILE_AGENT.encode("latin-1") + b"\r\nConnection: close\r\n\r\n")
    refused, refused_headers = raw(service, b"GET /check/x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")
    assert hostile.startswith(b"HTTP/1.1 404 ") and refused.startswith(b"HTTP/1.1 400 ")
    generated = [r.headers["X-Request-Id"] for r in (check, download, missing)]
    generated += [hostile_headers["x-request-id"], refused_headers["x-request-id"]]
    assert all(re.fullmatch("[0-9a-f]{16}", i) for i in generated) and len(set(generated)) == 5, generated
    assert service.stop() == 0

    entries = parsed_log(service)
    access = {entry["request_id"]: entry for entry in entries if entry["logger"] == "uds.access"}
    assert access["client-chosen-1"] == {
        **access["client-chosen-1"], "method": "POST", "path": "/upload/a.txt", "status": 201,
        "bytes_in": len(data), "bytes_out": len(upload.content), "user_agent": "e2e-test/1.0", "via": None}
    assert access["client-chosen-1"]["client"].startswith("127.0.0.1:")
    assert 0 <= access["client-chosen-1"]["duration"] < 60
    for response, want in zip((check, download, missing), ((200, "/check/"), (200, "/download/"), (404, "/check/"))):
        entry = access[response.headers["X-Request-Id"]]
        assert entry["status"] == response.status_code == want[0] and entry["path"].startswith(want[1])
        assert entry["bytes_out"] == len(response.content) and entry["bytes_in"] == 0 and entry["method"] == "GET"
    assert access[generated[3]]["path"] == '/check/x%22"}\\n{"forged":1'
    assert access[generated[3]]["user_agent"] == HOSTILE_AGENT
    assert access[generated[4]]["status"] == 400 and "message" in access[generated[4]]
    # Records made while the upload was handled carry its id; start-up and shutdown records have none.
    [stored] = [entry for entry in entries if str(entry.get("message", "")).startswith(f"stored {file_id}")]
    assert stored["request_id"] == "client-chosen-1" and stored["logger"] == "uds.routes"
    lifecycle = [entry for entry in entries if entry["logger"] == "uds.lifecycle"]
    assert any(entry["message"].startswith("listening on http://127.0.0.1:") for entry in lifecycle)
    assert lifecycle[-1]["message"] == "stopped" and all("request_id" not in entry for entry in lifecycle)
