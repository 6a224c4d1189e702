"""The bodies and headers of the service's answers: what a check, a
download and an upload answer say, made once per record where they can be
(they depend on immutable file records and, for checks, on the ledger
record). The routes decide which answer; this module says what is in it."""

from __future__ import annotations

from typing import Iterable, Protocol

from adapters.http.exchange import Exchange
from adapters.http.headers import attachment, etag_for
from adapters.http.negotiation import choose
from adapters.http.pages import error_page, upload_result_page
from adapters.http.response import JSON_HEADERS, http_date, json_bytes
from adapters.http.static import PAGE_SECURITY
from domain.lifecycle import Uploaded, rfc3339
from domain.model import StoredFile
from domain.services import CheckedFile
from ports.ledger import Record

JSON_TYPE = list(JSON_HEADERS)
NOSNIFF = ("X-Content-Type-Options", "nosniff")
TEXT_PLAIN = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
# JSON first: the default, also for */* and equal q-values (curl, requests);
# HTML only when preferred (a browser's form post: text/html, then */*;q=0.8).
UPLOAD_ANSWER_TYPES = (JSON_HEADERS[0][1], TEXT_PLAIN, HTML)
# The keys of an upload answer that its text/plain form lists, one line
# each, when present: the download link first (scripts read that line).
TEXT_LINKS = ("linkfordownload", "linkfordelete", "linkforshare")
# The server-rendered pages: no-store (an upload's page holds the delete
# links, shown once; a share page the downloads left, now); noindex, should
# a link leak to a crawler.
HTML_PAGE = (("Content-Type", HTML), *PAGE_SECURITY, ("Cache-Control", "no-store"), ("X-Robots-Tag", "noindex"))


def check_body(checked: CheckedFile) -> bytes:
    stored, record = checked.file, checked.record
    return json_bytes({
        "status": 200,
        "file": stored.name,
        "message": "is ready to download",
        "id": stored.id,
        "size": stored.size,
        "sha256": stored.sha256,
        "created": stored.created_rfc3339,
        **lifetime(record),
    })


def lifetime(record: Record) -> dict[str, object]:
    """``expires`` (RFC 3339, ``null`` for never) and ``downloads_left``
    (``null`` when unlimited), in the upload and check answers."""
    return {"expires": rfc3339(record.expires), "downloads_left": record.downloads_left}


def download_headers(_: str, stored: StoredFile) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/octet-stream"),
        ("Content-Disposition", attachment(stored.name)),
        ("ETag", etag_for(stored.sha256)),
        ("Last-Modified", http_date(stored.created.timestamp())),
        ("Accept-Ranges", "bytes"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "private, max-age=0, must-revalidate"),
    ]


class CheckBodies:
    """The JSON of check answers, remade only when the blob's metadata (the
    same object while the blob is unchanged) or the ledger record (compared
    by value: the ledger returns a new object every time) changed. Bounded;
    the oldest entries go first."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._bodies: dict[str, tuple[StoredFile, Record, bytes]] = {}

    def get(self, checked: CheckedFile) -> bytes:
        file_id = checked.file.id
        known = self._bodies.get(file_id)
        if known is not None and known[0] is checked.file and known[1] == checked.record:
            return known[2]
        body = check_body(checked)
        if known is None and len(self._bodies) >= self._limit:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[file_id] = (checked.file, checked.record, body)
        return body


class Link(Protocol):
    def __call__(self, route: str, exchange: Exchange, *values: str) -> str:
        """The public URL of ``route`` with its parameters set to ``values``."""


class UploadAnswers:
    """The 201 of an upload and the JSON of a finished resumable one, with
    the file's public links (built by ``link``). ``css``: the HTML answer
    links the web page's stylesheet."""

    def __init__(self, link: Link, css: bool = False) -> None:
        self._link = link
        self._css = css

    def respond(self, exchange: Exchange, files: list[Uploaded]) -> None:
        """201 for one or more stored files: the JSON of the first, plus
        ``"files"`` (every file's JSON, in order) when there are several; or,
        when the client prefers ``text/plain``, its links, one per line; or,
        when it prefers ``text/html`` (a browser posting the page's form), a
        page with the links. ``Location`` is the first file's download link,
        ``X-Url-Delete`` its delete link (as transfer.sh has it)."""
        answers = [self.payload(exchange, uploaded) for uploaded in files]
        location = [("Location", str(answers[0]["linkfordownload"])),
                    ("X-Url-Delete", str(answers[0]["linkfordelete"]))]
        chosen = choose(exchange.request.headers.get("accept"), UPLOAD_ANSWER_TYPES)
        if chosen == TEXT_PLAIN:
            lines = "".join(f"{answer[key]}\n" for answer in answers for key in TEXT_LINKS if key in answer)
            exchange.respond(201, [("Content-Type", TEXT_PLAIN), NOSNIFF, *location], lines.encode("utf-8"))
            return
        if chosen == HTML:
            page = upload_result_page(answers, self._link("home", exchange), self._css)
            exchange.respond(201, [*HTML_PAGE, *location], page)
            return
        body = dict(answers[0])
        if len(answers) > 1:
            body["files"] = answers
        exchange.respond_json(201, body, location)

    def refuse(self, exchange: Exchange, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """An upload refused: the JSON error, or, for a client that prefers
        ``text/html`` (a browser posting the page's form), a page saying why."""
        if choose(exchange.request.headers.get("accept"), UPLOAD_ANSWER_TYPES) == HTML:
            page = error_page(status, "The upload was refused", message, self._link("home", exchange), self._css)
            exchange.respond(status, [*HTML_PAGE, *headers], page)
            return
        exchange.respond_error(status, message, headers)

    def payload(self, exchange: Exchange, uploaded: Uploaded) -> dict[str, object]:
        """The JSON object that describes one stored file in an upload answer."""
        stored = uploaded.file
        return {
            **self._links(201, exchange, stored),
            "linkfordelete": self._link("delete", exchange, stored.id, uploaded.delete_token),
            "deletetoken": uploaded.delete_token,
            **self._facts(stored),
            **lifetime(uploaded.record),
        }

    def finished(self, status: int, exchange: Exchange, stored: StoredFile) -> dict[str, object]:
        """The JSON of a finished resumable upload (``GET /files/<id>``,
        ``adapters/http/tus.py``): a plain upload's keys without the delete
        link and token, which are shown once, to the uploader."""
        return {**self._links(status, exchange, stored), **self._facts(stored)}

    def _links(self, status: int, exchange: Exchange, stored: StoredFile) -> dict[str, object]:
        link = self._link
        return {
            "status": status,
            "fileisuploaded": stored.name,
            "linkforcheck": link("check", exchange, stored.id),
            "linkfordownload": link("download", exchange, stored.id),
            "linkfordownloadnamed": link("download_named", exchange, stored.id, stored.name),
            "linkforshare": link("share", exchange, stored.id),
        }

    @staticmethod
    def _facts(stored: StoredFile) -> dict[str, object]:
        return {"id": stored.id, "size": stored.size, "sha256": stored.sha256}
