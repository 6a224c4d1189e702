"""What people read: the server-rendered HTML pages (a shared file's landing
page, the answer to a browser's form upload, an error page) and the
plain-text usage that ``curl http://host/`` prints. Sans-I/O: text in,
bytes out.

Every value that comes from a request or a stored file (names above all:
an uploader chooses them) goes through ``html.escape`` with quotes, so a
name like ``<script>`` or ``" onclick="`` comes out as inert text, in
element content and in attribute values alike. The pages hold no script
and no inline style: they are sent with a strict Content-Security-Policy
(``adapters/http/static.py``), and look right without JavaScript. Their
only external resource is the web page's stylesheet, ``web/app.css``,
linked relatively (``../web/app.css`` from ``/share/<id>`` and
``/upload/``, so a path prefix of ``--public-url`` is kept) when it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from domain.lifecycle import rfc3339
from domain.services import CheckedFile

STYLESHEET = "../web/app.css"
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``1.5 MiB``: binary units, three significant digits at most."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {UNITS[unit]}"


def _attr(value: str) -> str:
    return escape(value, quote=True)


def document(title: str, body: str, css: bool, kind: str) -> bytes:
    """A whole HTML page around ``body`` (already escaped HTML); ``kind``
    names the page in the ``<body>``'s class, for the stylesheet."""
    stylesheet = f'<link rel="stylesheet" href="{STYLESHEET}">\n' if css else ""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n{stylesheet}</head>\n"
        f'<body class="page {kind}">\n<main>\n{body}</main>\n</body>\n</html>\n'
    ).encode("utf-8")


@dataclass(frozen=True)
class ShareLinks:
    download: str
    download_named: str


def _facts(rows: list[tuple[str, str]]) -> str:
    """A ``<dl>`` of (label, escaped HTML value) rows."""
    items = "".join(f"<dt>{escape(label)}</dt><dd>{value}</dd>\n" for label, value in rows)
    return f'<dl class="facts">\n{items}</dl>\n'


def _size(size: int) -> str:
    exact = "1 byte" if size == 1 else f"{size:,} bytes"
    return escape(human_size(size)) if size < 1024 else f"{escape(human_size(size))} ({exact})"


def _time(rfc: str | None, absent: str) -> str:
    """``2026-12-02 22:40:37 UTC`` for people, the RFC 3339 form for programs."""
    if not rfc:
        return escape(absent)
    shown = rfc.replace("T", " ").removesuffix("Z") + " UTC"
    return f'<time datetime="{_attr(rfc)}">{escape(shown)}</time>'


def share_page(checked: CheckedFile, links: ShareLinks, css: bool) -> bytes:
    """The landing page of a shared file: what it is, and a button that
    downloads it. Made from the check's data only: showing it never opens
    the file, let alone counts a download."""
    stored, record = checked.file, checked.record
    rows = [
        ("Size", _size(stored.size)),
        ("SHA-256", f'<code class="hash">{escape(stored.sha256)}</code>'),
        ("Uploaded", _time(stored.created_rfc3339, "unknown")),
        ("Expires", _time(rfc3339(record.expires), "never")),
    ]
    if record.downloads_left is not None:
        rows.append(("Downloads left", str(record.downloads_left)))
    body = (
        f'<h1 class="filename">{escape(stored.name)}</h1>\n'
        f"{_facts(rows)}"
        f'<p class="actions"><a class="button" href="{_attr(links.download)}">Download</a></p>\n'
        f'<p class="links">Direct link, named after the file: '
        f'<a href="{_attr(links.download_named)}">{escape(links.download_named)}</a></p>\n'
    )
    return document(f"{stored.name} (shared file)", body, css, "share")


def error_page(status: int, title: str, message: str, home: str, css: bool) -> bytes:
    body = (
        f'<h1>{escape(title)}</h1>\n<p class="message">{escape(message)}</p>\n'
        f'<p class="status">HTTP {status}</p>\n'
        f'<p class="actions"><a href="{_attr(home)}">Share a file</a></p>\n'
    )
    return document(title, body, css, "error")


def upload_result_page(answers: list[dict[str, object]], home: str, css: bool) -> bytes:
    """The answer to a browser's form upload (one section per stored file):
    the links the JSON answer has, to click or copy. The delete link is
    shown as text: it works with ``DELETE`` only (a ``GET`` never deletes),
    so it is something to keep, not to follow."""
    sections = []
    for answer in answers:
        def link(key: str) -> str:
            url = str(answer[key])
            return f'<a href="{_attr(url)}">{escape(url)}</a>'
        rows = [
            ("Size", _size(int(str(answer["size"])))),
            ("SHA-256", f'<code class="hash">{escape(str(answer["sha256"]))}</code>'),
            ("Share", link("linkforshare")),
            ("Download", link("linkfordownload")),
            ("Check", link("linkforcheck")),
            ("Delete", f'<code class="delete">curl -X DELETE {escape(str(answer["linkfordelete"]))}</code>'),
            ("Expires", _time(_text(answer.get("expires")), "never")),
        ]
        if answer.get("downloads_left") is not None:
            rows.append(("Downloads left", escape(str(answer["downloads_left"]))))
        sections.append(f'<section class="file">\n<h2 class="filename">{escape(str(answer["fileisuploaded"]))}'
                        f"</h2>\n{_facts(rows)}</section>\n")
    count = len(answers)
    title = "File stored" if count == 1 else f"{count} files stored"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        '<p class="note">Keep these links: they are shown once. Anyone with the share or download link can '
        "download the file; the delete link removes it.</p>\n"
        f"{''.join(sections)}"
        f'<p class="actions"><a href="{_attr(home)}">Share another file</a></p>\n'
    )
    return document(title, body, css, "uploaded")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def usage_text(links: dict[str, str], upload_auth: bool) -> bytes:
    """What ``curl http://host/`` prints: how to use the service from a
    shell, on its own URLs (``links``: ``home``, ``upload``, ``check``,
    ``download``, ``share``, ``delete``, ``tus``, each a URL with ``<id>``
    and ``<token>`` placeholders where a value goes)."""
    auth = " -H 'Authorization: Bearer <token>'" if upload_auth else ""
    lines = [
        "upload-download-service: share files by link.",
        "",
        "Upload (answer: JSON with linkfordownload, linkforshare, linkforcheck, linkfordelete, id, sha256):",
        f"  curl{auth} -F file=@x.pdf {links['upload']}",
        f"  curl{auth} --upload-file x.pdf {links['home']}",
        f"  curl{auth} -H 'Content-Disposition: attachment; filename=\"x.pdf\"' --data-binary @x.pdf "
        f"{links['upload']}",
        "  Optional headers: 'Expires-In: 1d12h', 'Max-Days: 3', 'Max-Downloads: 1';",
        "  -H 'Accept: text/plain' answers the download link on the first line instead of JSON.",
        "",
        f"Check:     curl {links['check']}",
        f"Download:  curl -OJ {links['download']}",
        f"Share:     {links['share']}  (a page for a browser)",
        f"Delete:    curl -X DELETE {links['delete']}  (the linkfordelete of the upload's answer)",
        f"Resumable: tus 1.0 at {links['tus']}",
        f"Web page:  {links['home']}  (in a browser)",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
