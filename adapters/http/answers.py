"""The bodies and headers of the service's answers: what a check, a
download and an upload answer say, made once per record where they can be
(they depend on immutable file records and, for checks, on the ledger
record). The routes decide which answer; this module says what is in it."""

from __future__ import annotations

from adapters.http.headers import attachment, etag_for
from adapters.http.response import JSON_HEADERS, http_date, json_bytes
from domain.lifecycle import rfc3339
from domain.model import StoredFile
from domain.services import CheckedFile
from ports.ledger import Record

JSON_TYPE = list(JSON_HEADERS)
NOSNIFF = ("X-Content-Type-Options", "nosniff")
TEXT_PLAIN = "text/plain; charset=utf-8"
# JSON first: the default, also for */* and equal q-values.
UPLOAD_ANSWER_TYPES = (JSON_HEADERS[0][1], TEXT_PLAIN)
# The keys of an upload answer that its text/plain form lists, one line
# each, when present (issue 14's delete link will be the second line).
TEXT_LINKS = ("linkfordownload", "linkfordelete")


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
