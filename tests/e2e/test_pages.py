"""The pages with curl against the real process, started outside the
repository (the web/ folder is found next to the code, not in the working
directory): ``curl http://host/`` prints the usage, a browser's ``Accept``
gets the page, ``curl -F`` still gets JSON, now with ``linkforshare``,
whose page names the file and never counts as a download."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, ServiceFactory

pytestmark = pytest.mark.e2e


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("curl")
    if binary is None:
        pytest.skip("curl is not installed (tests/run.sh installs it with apt-get when run as root)")
    return subprocess.run([binary, "-sS", *args], capture_output=True, text=True, timeout=30)


def test_curl_reads_the_usage_uploads_and_opens_the_share_page(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service(cwd=tmp_path)
    usage = curl(service.url + "/")
    assert usage.returncode == 0, usage.stderr
    assert f"curl -F file=@x.pdf {service.url}/upload/" in usage.stdout
    assert f"{service.url}/share/<id>" in usage.stdout

    page = curl("-H", "Accept: text/html,*/*;q=0.8", "-D", "-", service.url + "/")
    head, _, body = page.stdout.partition("\n\n")  # text mode: CRLF reads as LF
    assert "Content-Security-Policy: default-src 'none'" in head and "Referrer-Policy: no-referrer" in head
    assert body == (ROOT / "web" / "index.html").read_text()

    source = tmp_path / "it's <b>&.txt"
    source.write_bytes(b"shared once\n")
    upload = curl("-H", "Max-Downloads: 1", "-F", f"file=@{source}", service.url + "/upload/")
    answer = json.loads(upload.stdout)
    assert answer["linkforshare"] == f"{service.url}/share/{answer['id']}"
    for _ in range(2):
        share = curl("-w", "\n%{http_code} %{content_type}", answer["linkforshare"])
        assert share.stdout.endswith("\n200 text/html; charset=utf-8")
        assert "it&#x27;s &lt;b&gt;&amp;.txt" in share.stdout and answer["sha256"] in share.stdout
    download = curl(answer["linkfordownload"])
    assert download.stdout == "shared once\n"
    gone = curl("-o", "/dev/null", "-w", "%{http_code}", answer["linkforshare"])
    assert gone.stdout == "404"


def test_web_files_revalidate_with_their_etag(make_service: ServiceFactory) -> None:
    service = make_service()
    first = curl("-D", "-", "-o", "/dev/null", service.url + "/web/index.html")
    etag = next(line.split(":", 1)[1].strip() for line in first.stdout.splitlines()
                if line.lower().startswith("etag:"))
    again = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}",
                 service.url + "/web/index.html")
    assert again.stdout == "304"
    outside = curl("-o", "/dev/null", "-w", "%{http_code}", "--path-as-is", service.url + "/web/../main.py")
    assert outside.stdout == "404"
