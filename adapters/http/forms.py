"""Uploads as HTML forms send them: ``multipart/form-data`` (RFC 7578) on
``POST /upload/``, what ``curl -F``, ``requests.post(files=...)`` and a
browser's ``<form enctype="multipart/form-data">`` send.

Every part with a file name is stored as a file, streamed: the request body
is read only as fast as the parts are written (``FormReader`` feeds the
sans-I/O ``MultipartParser`` with the body as it arrives, and each file part
is a ``ByteSource`` for ``UploadService.upload``), so memory stays flat in
the size of the files. Text fields are read and ignored, except the upload
terms: ``expires-in``, ``max-days`` and ``max-downloads`` (the headers'
names and values) sent before the first file part, so that a page's plain
form without JavaScript can ask for them; a non-empty field wins over the
header of the same name, an empty one (an input left blank) is absent;
each value is kept up to ``MAX_TERM_FIELD`` bytes. All or nothing: if
the form turns out malformed or truncated, or any file is refused (too
large, empty, disk full), the files already stored from it are removed and
nothing of the form remains.

Limits: each file obeys ``--max-upload-size`` like a plain upload, and the
whole body may exceed it by at most ``FORM_OVERHEAD`` (the form's own part
headers and fields). The upload speed limits apply to every byte of the body.
"""

from __future__ import annotations

import logging

from adapters.http.exchange import Exchange
from adapters.http.multipart import END, NEED_DATA, PART_END, MultipartParser, PartData, PartStart, boundary_of
from adapters.throttle import UNLIMITED
from domain.errors import BadUploadTerms, UploadTooLarge
from domain.lifecycle import Uploaded
from domain.services import UNTHROTTLED_READ, UploadRequest, UploadService
from domain.terms import UploadTerms
from ports.throttle import Throttle
from ports.transfer import ByteSource

log = logging.getLogger("uds.forms")

FORM_OVERHEAD = 1 << 20
TERM_FIELDS = ("expires-in", "max-days", "max-downloads")
MAX_TERM_FIELD = 64


def is_form(content_type: str | None) -> bool:
    """Whether a Content-Type value says ``multipart/form-data``."""
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "multipart/form-data"


class NoFileInForm(Exception):
    """The form was complete but had no file part (400)."""


class FormReader:
    """The parts of a form body, read from ``body`` on demand: ``next_file``
    skips to the next file part, then ``read`` gives its content (a
    ``ByteSource``) until ``b""`` at its end. Raises ``MultipartError`` for a
    malformed or truncated form, ``UploadTooLarge`` past ``max_body`` bytes
    of body (0: no limit)."""

    def __init__(self, body: ByteSource, parser: MultipartParser, throttle: Throttle, max_body: int,
                 body_limit_error: UploadTooLarge) -> None:
        self._body = body
        self._parser = parser
        self._throttle = throttle
        self._max_body = max_body
        self._too_large = body_limit_error
        self._received = 0
        self._in_file = False
        self._ended = False
        # The upload-term fields read so far (name -> raw bytes), and the one being read.
        self.terms: dict[str, bytes] = {}
        self._term: str | None = None

    async def _next_piece(self) -> bytes:
        """The next piece of the body (``b""`` at its end), counted against
        the body limit and paid for at the upload rate: every body byte
        counts, not only the files'."""
        throttle = self._throttle
        data = await self._body.read(UNTHROTTLED_READ if throttle.unlimited else throttle.chunk_size)
        self._received += len(data)
        if self._max_body and self._received > self._max_body:
            raise self._too_large
        if data and not throttle.unlimited:
            await throttle.acquire(len(data))
        return data

    async def _fill(self) -> None:
        data = await self._next_piece()
        if data:
            self._parser.feed(data)
        else:
            self._parser.feed_eof()

    async def next_file(self) -> PartStart | None:
        """The start of the next file part (a part with a non-empty file
        name; an empty one is a browser's file input left empty), or ``None``
        once the form is complete."""
        if self._in_file:
            raise RuntimeError("the current file part was not read to its end")
        while not self._ended:
            event = self._parser.next_event(UNTHROTTLED_READ)
            if event is NEED_DATA:
                await self._fill()
            elif isinstance(event, PartStart) and event.filename:
                self._in_file = True
                return event
            elif isinstance(event, PartStart):
                self._term = event.name.lower() if event.name.lower() in TERM_FIELDS else None
                if self._term is not None:
                    self.terms[self._term] = b""
            elif isinstance(event, PartData) and self._term is not None:
                value = self.terms[self._term] + event.data
                if len(value) > MAX_TERM_FIELD:
                    raise BadUploadTerms(f"the form field {self._term} is over {MAX_TERM_FIELD} bytes")
                self.terms[self._term] = value
            elif event is END:
                self._ended = True
            # Otherwise other text fields (their start, data or end): read and ignored.
        return None

    async def read(self, max_bytes: int) -> bytes:
        """The next bytes of the current file part, ``b""`` at its end."""
        if not self._in_file:
            return b""
        while True:
            event = self._parser.next_event(max_bytes)
            if isinstance(event, PartData):
                return event.data
            if event is NEED_DATA:
                await self._fill()
            elif event is PART_END:
                self._in_file = False
                return b""
            else:  # pragma: no cover - the parser ends a part before anything else
                raise RuntimeError(f"unexpected {event!r} inside a part")

    async def drain(self) -> None:
        """Read (and drop) what follows the final boundary, within the body
        limit, so that the connection can carry the next request."""
        while await self._next_piece():
            pass


async def upload_form(exchange: Exchange, uploads: UploadService, throttle: Throttle,
                      terms: UploadTerms) -> list[Uploaded]:
    """Store every file of the form in ``exchange``'s body, in order; all
    or nothing; every file gets the upload's ``terms`` (expiry, download
    limit: from the headers, or from the form's term fields before its first
    file). Raises ``MultipartError`` (malformed, truncated), ``NoFileInForm``,
    ``BadUploadTerms``, or what storing a file raises (``UploadTooLarge``,
    ``EmptyUpload``, ``StorageFull``, a broken body's error), after removing
    what was stored."""
    request = exchange.request
    max_file_size = uploads.max_size
    max_body = max_file_size + FORM_OVERHEAD if max_file_size else 0
    too_large = UploadTooLarge(max_file_size)
    if max_body and request.content_length is not None and request.content_length > max_body:
        raise too_large  # refused before the body is read (no 100 Continue)
    parser = MultipartParser(boundary_of(request.headers.get("content-type", "")))
    form = FormReader(exchange, parser, throttle, max_body, too_large)
    stored: list[Uploaded] = []
    try:
        while (part := await form.next_file()) is not None:
            if not stored and form.terms:
                terms = form_terms(request.headers, form.terms)
            # The form reader pays for the body's bytes: the file itself is not metered twice.
            stored.append(await uploads.upload(
                UploadRequest(name=part.filename, content_type=part.content_type, declared_size=None,
                              terms=terms, client=exchange.client.address),
                form, UNLIMITED))
        await form.drain()
        if not stored:
            raise NoFileInForm()
    except BaseException:
        for file in stored:
            try:
                await uploads.discard(file.file.id)
            except Exception:
                log.exception("could not remove %s, stored from a form that failed", file.file.id)
        if stored:
            log.info("removed %d file(s) stored from a form that failed", len(stored))
        raise
    return stored


def form_terms(headers: dict[str, str], fields: dict[str, bytes]) -> UploadTerms:
    """The upload terms from the form's term fields, each falling back on
    the header of the same name when absent or blank. Raises ``BadUploadTerms``."""
    values: list[str | None] = []
    for name in TERM_FIELDS:
        raw = fields.get(name, b"").strip()
        try:
            values.append(raw.decode("ascii") if raw else headers.get(name))
        except UnicodeDecodeError:
            raise BadUploadTerms(f"the form field {name} is not ASCII") from None
    return UploadTerms.parse(*values)
