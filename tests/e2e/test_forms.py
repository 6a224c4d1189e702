"""Form uploads (multipart/form-data) with the real clients against the real
process: curl -F (one and several), requests (several files and a text
field), httpie -f; raw sockets for truncated and malformed forms, after which
nothing is stored; and the server's memory while a large form streams in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.test_clients import need, run
from tests.e2e.wire import Wire

pytestmark = pytest.mark.e2e

BOUNDARY = b"e2e-boundary-4c1d"


def objects(service: Service) -> list[Path]:
    return [p for p in (service.storage / "objects").rglob("*") if p.is_file()]


def temporaries(service: Service) -> list[Path]:
    return [p for p in (service.storage / "tmp").rglob("*") if p.is_file()]


def test_curl_form_with_one_and_several_files(service: Service, tmp_path: Path) -> None:
    curl = need("curl")
    pdf, notes = tmp_path / "x.pdf", tmp_path / "notes.txt"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(100_000))
    notes.write_bytes(b"some notes\n")

    one = run(curl, "-s", "-F", f"file=@{pdf}", service.url + "/upload/")
    answer = json.loads(one.stdout)
    assert answer["status"] == 201 and answer["fileisuploaded"] == "x.pdf", one
    assert answer["size"] == pdf.stat().st_size and "files" not in answer
    assert requests.get(answer["linkfordownload"], timeout=10).content == pdf.read_bytes()

    several = run(curl, "-s", "-F", f"file=@{pdf};type=application/pdf", "-F", f"more=@{notes}",
                  "-F", "comment=not a file", "-F", f"third=@{notes};filename=r\u00e9sum\u00e9.txt",
                  service.url + "/upload/")
    answer = json.loads(several.stdout)
    assert [f["fileisuploaded"] for f in answer["files"]] == ["x.pdf", "notes.txt", "r\u00e9sum\u00e9.txt"]
    assert answer["id"] == answer["files"][0]["id"]
    for entry, source in zip(answer["files"], (pdf, notes, notes)):
        assert requests.get(entry["linkfordownloadnamed"], timeout=10).content == source.read_bytes()
    assert requests.get(answer["linkfordownload"], timeout=10).headers["Content-Disposition"].startswith(
        'attachment; filename="x.pdf"')

    links = run(curl, "-s", "-H", "Accept: text/plain", "-F", f"a=@{pdf}", "-F", f"b=@{notes}",
                service.url + "/upload/").stdout.splitlines()
    assert len(links) == 6 and all(link.startswith(service.url + "/download/") for link in links[0::3])
    assert all(link.startswith(service.url + "/delete/") for link in links[1::3])
    assert all(link.startswith(service.url + "/share/") for link in links[2::3])


def test_requests_files_with_a_text_field(service: Service) -> None:
    files = [("file", ("one.bin", os.urandom(70_000), "application/octet-stream")),
             ("file", ("two.txt", b"--e2e-boundary-4c1d\r\nnot a delimiter here\r\n", "text/plain"))]
    response = requests.post(service.url + "/upload/", files=files, data={"comment": "hello"}, timeout=10)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert [f["fileisuploaded"] for f in answer["files"]] == ["one.bin", "two.txt"]
    for entry, (_, (_, data, _)) in zip(answer["files"], files):
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert requests.get(entry["linkfordownload"], timeout=10).content == data
    assert len(objects(service)) == 2


def httpie() -> str:
    """The httpie of the test virtualenv (requirements-dev.txt), else one on PATH."""
    beside = Path(sys.executable).parent / "http"
    found = str(beside) if beside.exists() else shutil.which("http")
    if found is None:
        pytest.skip("httpie is not installed (requirements-dev.txt pins it)")
    return found


def test_httpie_form(service: Service, tmp_path: Path) -> None:
    http = httpie()
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    result = run(http, "--ignore-stdin", "--print=b", "-f", "POST", service.url + "/upload/",
                 f"file@{source}", "comment=hi")
    answer = json.loads(result.stdout)
    assert answer["fileisuploaded"] == "report.csv" and answer["size"] == 8, result


def form_head(length: int) -> bytes:
    return (b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
            b"Content-Length: %d\r\n\r\n" % (BOUNDARY, length))


def part(name: bytes, data: bytes) -> bytes:
    return (b'--%s\r\nContent-Disposition: form-data; name="f"; filename="%s"\r\n\r\n%s\r\n'
            % (BOUNDARY, name, data))


@pytest.mark.parametrize("body", [
    pytest.param(part(b"a.bin", b"a" * 100_000) + part(b"b.bin", b"b" * 1000), id="no final boundary"),
    pytest.param(part(b"a.bin", b"a" * 100_000) + b"--" + BOUNDARY + b"\r\n" + b"X: " + b"h" * 20_000 + b"\r\n",
                 id="part headers too large"),
    pytest.param(part(b"a.bin", b"a" * 100_000) + b"--" + BOUNDARY + b"\r\nContent-Type: a/b\r\n\r\nx\r\n--"
                 + BOUNDARY + b"--\r\n", id="part without a disposition"),
    pytest.param(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\ntext only\r\n--"
                 + BOUNDARY + b"--\r\n", id="no file part"),
])
def test_malformed_forms_are_400_and_store_nothing(service: Service, body: bytes) -> None:
    with Wire(service.host, service.port) as wire:
        wire.send(form_head(len(body)) + body)
        reply = wire.reply()
    assert reply.status == 400 and reply.headers["content-type"] == "application/json", reply
    assert not objects(service) and not temporaries(service)


def test_a_form_cut_off_by_the_client_stores_nothing(service: Service) -> None:
    body = part(b"a.bin", b"a" * 200_000) + part(b"b.bin", b"b" * 200_000)
    with Wire(service.host, service.port) as wire:
        wire.send(form_head(len(body) + 1000) + body)  # then the client goes away
        time.sleep(0.3)
    service.wait_for_log("removed 1 file(s) stored from a form that failed")
    assert not objects(service) and not temporaries(service)


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_form_streams_in_flat_memory(make_service: ServiceFactory, tmp_path: Path) -> None:
    """A 256 MiB file in a form: the server's peak RSS stays under 64 MiB."""
    curl = need("curl")
    service = make_service("--fsync", "never")
    source = tmp_path / "big.bin"
    with open(source, "wb") as out:
        out.truncate(256 << 20)  # sparse: costs no disk to make
    peak = [vm_hwm_kib(service.proc.pid)]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak.append(vm_hwm_kib(service.proc.pid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = subprocess.run([curl, "-s", "-F", f"file=@{source}", service.url + "/upload/"],
                                capture_output=True, text=True, timeout=240)
    finally:
        done.set()
        watcher.join()
    answer = json.loads(result.stdout)
    assert answer["size"] == 256 << 20, result
    assert max(peak) < 64 * 1024, f"peak RSS {max(peak)} KiB"
