"""The upload page in a real browser: headless Debian Chromium driven by
Playwright (tests/e2e/browser.py), against the real service.

A multi-megabyte upload through the page's file input, held to 3 MiB/s by
``--upload-rate`` so that it can be interrupted twice: the browser goes
offline mid-way and comes back, then the page is reloaded mid-PATCH and the
same file chosen again. The page must resume from the server's offset each
time (one creation, no PATCH from 0 after the first), show the links, and
the share page's download button must give back the very bytes. Also: the
plain form without JavaScript, and a 401 shown in words.

Screenshots go to the test's temporary directory; their paths are printed
(``pytest -s`` shows them)."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Request, Response, sync_playwright

from tests.e2e.browser import VIEWPORT, launch, link_of, shoot, wait_for_progress, wait_until
from tests.e2e.conftest import ServiceFactory

pytestmark = pytest.mark.e2e

MIB = 1 << 20
CHUNK = 4 * MIB  # app.js's CHUNK_SIZE
TOKEN = "browser-test-token-0123456789"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)  # fails, not skips, without /usr/bin/chromium
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


class TusLog:
    """What the page sent to /files/ and what the server said about offsets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, int | None]] = []  # method, url, Upload-Offset sent
        self.head_offsets: list[int] = []

    def on_request(self, request: Request) -> None:
        if "/files/" in request.url:
            offset = request.headers.get("upload-offset")
            self.requests.append((request.method, request.url, None if offset is None else int(offset)))

    def on_response(self, response: Response) -> None:
        if "/files/" in response.url and response.request.method == "HEAD" and response.status == 200:
            self.head_offsets.append(int(response.headers["upload-offset"]))

    def patches(self) -> list[int]:
        return [offset for method, _, offset in self.requests if method == "PATCH" and offset is not None]

    def count(self, method: str) -> int:
        return sum(1 for request in self.requests if request[0] == method)


def test_an_interrupted_upload_resumes_from_the_servers_offset_and_downloads_the_same_bytes(
        make_service: ServiceFactory, context: BrowserContext, tmp_path: Path) -> None:
    service = make_service("--upload-rate", "3M")
    original = tmp_path / "holiday photos.bin"
    original.write_bytes(os.urandom(16 * MIB + 12345))  # four full chunks and a bit: cut in the second and third
    log = TusLog()
    context.on("request", log.on_request)
    context.on("response", log.on_response)
    page = context.new_page()
    page.goto(service.url + "/")
    assert page.title() == "Upload files"
    page.select_option("#expires-in", "1d")
    page.fill("#max-downloads", "3")
    page.set_input_files("#file-input", str(original))

    # 1. The network goes away in the middle of the upload, and comes back.
    wait_for_progress(page, 2 * MIB)
    shoot(page, tmp_path / "upload-progress.png")
    context.set_offline(True)
    page.wait_for_selector(".upload[data-state=retrying]", timeout=15000)
    assert "retrying" in page.locator(".upload-state").inner_text()
    shoot(page, tmp_path / "upload-offline.png")
    context.set_offline(False)

    # 2. The page is reloaded in the middle of a PATCH; the same file is chosen again.
    wait_for_progress(page, 6 * MIB)
    page.reload()
    heads_before = len(log.head_offsets)
    patches_before = len(log.patches())
    page.select_option("#expires-in", "1d")
    page.fill("#max-downloads", "3")
    page.set_input_files("#file-input", str(original))
    page.wait_for_selector(".upload.done", timeout=40000)
    shoot(page, tmp_path / "upload-done.png")

    # One upload, created once; after the first PATCH none started from 0 again, and the page went on from the
    # offset the server reported after the reload (a HEAD of the remembered upload URL).
    assert log.count("POST") == 1, log.requests
    patches = log.patches()
    assert patches[0] == 0 and all(offset > 0 for offset in patches[1:]), patches
    resumed_at = log.head_offsets[heads_before]
    assert resumed_at >= 4 * MIB, log.head_offsets
    after_reload = patches[patches_before:]
    assert after_reload[0] == resumed_at and after_reload == sorted(after_reload), patches
    # Resumed, not re-sent: apart from the chunk cut by the reload, the bytes sent add up to the file.
    sent = sum(min(CHUNK, original.stat().st_size - offset) for offset in set(patches))
    assert sent < original.stat().st_size + CHUNK, patches
    upload_urls = {url for method, url, _ in log.requests if method != "POST"}
    assert len(upload_urls) == 1, log.requests  # the one upload URL, remembered across the reload
    print("tus requests:", log.requests, "HEAD offsets:", log.head_offsets)

    share = link_of(page, "share")
    download = link_of(page, "download")
    assert re.fullmatch(re.escape(service.url) + r"/share/[a-z2-7]{26}", share), share
    assert download.startswith(service.url + "/download/")
    assert link_of(page, "delete").startswith(service.url + "/delete/")
    digest = hashlib.sha256(original.read_bytes()).hexdigest()
    assert digest in page.locator(".upload .sha256").inner_text()
    check = requests.get(link_of(page, "check"), timeout=10).json()
    assert (check["size"], check["sha256"], check["downloads_left"]) == (original.stat().st_size, digest, 3)

    # The share page, then its download button: the same bytes.
    page.goto(share)
    assert page.locator("h1").inner_text() == original.name
    shoot(page, tmp_path / "share-page.png")
    with page.expect_download() as started:
        page.locator("a.button", has_text="Download").click()
    saved = tmp_path / "downloaded.bin"
    started.value.save_as(saved)
    assert saved.read_bytes() == original.read_bytes()
    # Viewing the share page did not count; the download did (once its last byte went).
    check_link = share.replace("/share/", "/check/")
    wait_until(lambda: requests.get(check_link, timeout=10).json()["downloads_left"] == 2, "the download to count")


def test_without_javascript_the_page_is_a_plain_form_upload(browser: Browser, make_service: ServiceFactory,
                                                            tmp_path: Path) -> None:
    service = make_service()
    original = tmp_path / "notes.txt"
    original.write_bytes(b"uploaded by a browser without JavaScript\n" * 1000)
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(service.url + "/")
        # The upload token would need a header, which a form cannot send: that field stays hidden.
        assert page.locator("#upload-token").is_hidden() and page.locator("#max-downloads").is_visible()
        shoot(page, tmp_path / "form.png")
        page.select_option("#expires-in", "1h")
        page.fill("#max-downloads", "2")
        page.set_input_files("#file-input", str(original))
        with page.expect_navigation():
            page.locator("button[type=submit]").click()
        shoot(page, tmp_path / "form-result.png")
        assert "notes.txt" in page.locator("h2.filename").inner_text()
        download = page.locator("a[href*='/download/']").first.get_attribute("href")
        assert download is not None
        check = requests.get(download.replace("/download/", "/check/"), timeout=10).json()
        assert check["downloads_left"] == 2  # the form's fields reached the service
        created = datetime.fromisoformat(check["created"].replace("Z", "+00:00"))
        expires = datetime.fromisoformat(check["expires"].replace("Z", "+00:00"))
        assert (expires - created).total_seconds() == 3600
        assert requests.get(download, timeout=10).content == original.read_bytes()
    finally:
        context.close()


def test_a_missing_upload_token_is_told_in_words_and_a_good_one_uploads(
        make_service: ServiceFactory, context: BrowserContext, tmp_path: Path) -> None:
    service = make_service("--upload-token", TOKEN)
    original = tmp_path / "small.txt"
    original.write_bytes(b"a small file\n")
    page = context.new_page()
    page.goto(service.url + "/")
    page.set_input_files("#file-input", str(original))
    page.wait_for_selector(".upload.failed", timeout=10000)
    state = page.locator(".upload-state").inner_text()
    assert "needs an upload token (401)" in state, state
    assert "needs an upload token" in page.locator("#status").inner_text()
    page.fill("#upload-token", TOKEN)
    page.set_input_files("#file-input", str(original))
    page.wait_for_selector(".upload.done", timeout=10000)
    shoot(page, tmp_path / "token.png")
    download = link_of(page, "download", row=1)
    assert requests.get(download, timeout=10).content == original.read_bytes()
    assert wait_until(lambda: page.locator(".upload").count() == 2, "two rows")


@pytest.mark.parametrize("flags, words", [
    (("--max-upload-size", "1000"), "too large for this service (413)"),
    (("--max-storage", "1000"), "storage is full (507)"),
])
def test_refusals_are_told_in_words(make_service: ServiceFactory, context: BrowserContext, tmp_path: Path,
                                    flags: tuple[str, str], words: str) -> None:
    service = make_service(*flags)
    original = tmp_path / "two-kilobytes.bin"
    original.write_bytes(os.urandom(2000))
    page = context.new_page()
    page.goto(service.url + "/")
    page.set_input_files("#file-input", str(original))
    page.wait_for_selector(".upload.failed", timeout=10000)
    state = page.locator(".upload-state").inner_text()
    assert words in state, state


def test_too_many_requests_waits_as_told(make_service: ServiceFactory, context: BrowserContext,
                                         tmp_path: Path) -> None:
    service = make_service("--requests-per-minute", "1")  # the page itself is the one
    original = tmp_path / "small.bin"
    original.write_bytes(os.urandom(2000))
    page = context.new_page()
    page.goto(service.url + "/")
    page.set_input_files("#file-input", str(original))
    page.wait_for_selector(".upload[data-state=retrying]", timeout=10000)
    state = page.locator(".upload-state").inner_text()
    assert re.search(r"Too many requests \(429\), retrying in \d+ s", state), state
