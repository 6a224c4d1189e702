"""Rewrite the README's screenshots of the upload page and the share page
(``docs/screenshot-upload.png``, ``docs/screenshot-share.png``), with the
real service and headless Debian Chromium, as the browser tests run them:

    .venv/bin/python -m tests.e2e.screenshots [--out docs]

The upload page is shot with one file finished (its links shown) and a
second one on its way (held to 3 MiB/s by ``--upload-rate``, so that its
progress bar, speed and time left show); the share page is the finished
file's."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.browser import VIEWPORT, launch, link_of, shoot, wait_for_progress
from tests.e2e.conftest import ROOT, start_service

MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the two PNGs (docs/)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        report = work / "quarterly-report.pdf"
        report.write_bytes(os.urandom(2 * MIB + 345678))
        video = work / "holiday-video.mp4"
        video.write_bytes(os.urandom(40 * MIB))
        service = start_service(work / "storage", work / "service.log", "--upload-rate", "3M")
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(service.url + "/")
                page.select_option("#expires-in", "7d")
                page.fill("#max-downloads", "10")
                page.set_input_files("#file-input", [str(report), str(video)])
                page.wait_for_selector(".upload.done", timeout=30000)
                wait_for_progress(page, 14 * MIB, row=1, timeout=60)
                page.locator("#max-downloads").blur()
                shoot(page, out / "screenshot-upload.png")
                share = link_of(page, "share")
                page.set_viewport_size({"width": VIEWPORT["width"], "height": 500})
                page.goto(share)
                shoot(page, out / "screenshot-share.png")
                browser.close()
        finally:
            service.stop()


if __name__ == "__main__":
    main()
