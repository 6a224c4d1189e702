"""The files of the web page (``web/`` at the top of the repository), served
at ``GET /web/<name>`` as they are: no build step, no template.

They are read once, when the service starts, from a fixed directory next to
the code (``WEB_DIR``, not the working directory), into memory: a flat
allow-list of the names found there, so no part of a request's path ever
reaches the filesystem (``..``, an encoded slash or any other name is simply
not a key: 404). Only plain files directly in the folder, with a name of
letters, digits, ``.``, ``_`` and ``-`` and a known extension, are served;
everything else there (this folder's README, subfolders) is left out. The
whole set is bounded (``MAX_FILES``, ``MAX_TOTAL_BYTES``): a folder that
holds more stops the start-up with a clear message rather than filling
memory.

Every answer carries the page security headers (``PAGE_SECURITY``: a strict
Content-Security-Policy, no referrer, nosniff), an ``ETag`` (a conditional
``GET`` with ``If-None-Match`` is a 304) and ``Cache-Control: no-cache``:
the URLs are not versioned, so a browser revalidates each time and gets a
304 while the file is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("uds.static")

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
MAX_FILES = 64
MAX_TOTAL_BYTES = 8 << 20
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/vnd.microsoft.icon",
}
NOSNIFF = ("X-Content-Type-Options", "nosniff")
# The pages' policy: nothing from elsewhere, no inline script or style (so
# an injected <script> or style attribute would not run), no framing, no
# form posting to another site. The page's own files are under 'self'.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# On every HTML answer (and every file of web/): links are secrets, so a
# page never tells the next site where the browser came from.
PAGE_SECURITY: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    NOSNIFF,
)
REVALIDATE = ("Cache-Control", "no-cache")


class TooMuchWeb(ValueError):
    """``web/`` holds more than the service keeps in memory."""


@dataclass(frozen=True)
class StaticFile:
    name: str
    body: bytes
    etag: str
    headers: tuple[tuple[str, str], ...]  # Content-Type, ETag, caching and the security headers


class StaticFiles:
    """The allow-list of served files, name -> file, fixed after loading."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files: dict[str, StaticFile] = {}
        for name, body in files.items():
            content_type = content_type_of(name)
            if content_type is None:
                raise ValueError(f"not a servable web file name: {name!r}")
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers = (("Content-Type", content_type), ("ETag", etag), REVALIDATE, *PAGE_SECURITY)
            self._files[name] = StaticFile(name, body, etag, headers)

    @classmethod
    def load(cls, directory: Path = WEB_DIR, max_files: int = MAX_FILES,
             max_total: int = MAX_TOTAL_BYTES) -> StaticFiles:
        """The servable files directly in ``directory`` (none if it does not
        exist). Raises ``TooMuchWeb`` past ``max_files`` files or
        ``max_total`` bytes in all."""
        found: dict[str, bytes] = {}
        total = 0
        if not directory.is_dir():
            log.warning("no web folder at %s: the pages' files are not served", directory)
            return cls(found)
        for path in sorted(directory.iterdir()):
            if content_type_of(path.name) is None or not path.is_file():
                continue
            if len(found) == max_files:
                raise TooMuchWeb(f"{directory} has more than {max_files} files to serve")
            with path.open("rb") as file:
                body = file.read(max_total - total + 1)
            total += len(body)
            if total > max_total:
                raise TooMuchWeb(f"the files of {directory} exceed {max_total} bytes in all")
            found[path.name] = body
        return cls(found)

    def get(self, name: str) -> StaticFile | None:
        """The file called exactly ``name`` (the raw path segment: never
        decoded, never joined to a path)."""
        return self._files.get(name)

    def names(self) -> list[str]:
        return sorted(self._files)


def content_type_of(name: str) -> str | None:
    """The media type a servable file name has, ``None`` when it is not one."""
    if not NAME.match(name):
        return None
    dot = name.rfind(".")
    return CONTENT_TYPES.get(name[dot:].lower()) if dot > 0 else None
