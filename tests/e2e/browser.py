"""Driving Debian's Chromium (``/usr/bin/chromium``, installed by
tests/run.sh with apt-get) with Playwright's Python package, for the browser
tests and the README's screenshots. Never a browser Playwright downloads:
``playwright install`` is never run.

The page runs under a strict Content-Security-Policy (no ``eval``), so
waiting on the page's state is done by polling ``locator.evaluate`` with a
function (which the CSP does not block) instead of ``wait_for_function``
with a string."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, TypeVar

from playwright.sync_api import Browser, Page, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT: ViewportSize = {"width": 900, "height": 900}

T = TypeVar("T")


def launch(playwright: Playwright) -> Browser:
    """Headless Debian Chromium; a clear error when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: install the Debian packages chromium and chromium-driver "
                           "(bash tests/run.sh does, as root)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def wait_until(probe: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


def progress_of(page: Page, row: int = 0) -> int:
    """The bytes the page's progress bar of upload ``row`` shows."""
    value = page.locator(".upload-bar").nth(row).evaluate("bar => bar.value")
    return int(value)


def wait_for_progress(page: Page, at_least: int, row: int = 0, timeout: float = 30.0) -> int:
    return wait_until(lambda: (value := progress_of(page, row)) >= at_least and value,
                      f"the progress bar to reach {at_least} bytes", timeout)


def link_of(page: Page, kind: str, row: int = 0) -> str:
    """A finished upload's link (``share``, ``download``, ``check``, ``delete``)."""
    return page.locator(".upload").nth(row).locator(f".link-{kind} input").input_value()


def shoot(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
