"""The one map from errors to HTTP answers.

Each domain error class declares its status here; a subclass inherits its
base's status unless it has its own entry (looked up along the MRO), so a
new, more specific domain error is never a 500 by accident. Every error
answer is built by ``error_payload``: ``{"status": N, "message": "..."}``,
except the published shape of a missing file,
``{"status": 404, "file": "<id>", "message": "is not found"}``.
"""

from __future__ import annotations

from typing import Any

from adapters.http.response import json_bytes
from domain.errors import (
    BadUploadTerms,
    ChecksumMismatch,
    DeleteForbidden,
    DeleteUnauthorized,
    DomainError,
    DownloadsBusy,
    EmptyUpload,
    FileNotFound,
    LedgerBusy,
    LengthConflict,
    OffsetMismatch,
    PastLength,
    StorageFull,
    UploadFinished,
    UploadLocked,
    UploadTooLarge,
)

STATUS: dict[type[BaseException], int] = {
    DomainError: 500,
    FileNotFound: 404,  # also expired, used-up and deleted files: gone at once
    EmptyUpload: 400,
    BadUploadTerms: 400,
    DeleteUnauthorized: 401,
    DeleteForbidden: 403,
    UploadTooLarge: 413,
    DownloadsBusy: 503,
    LedgerBusy: 503,
    StorageFull: 507,  # and QuotaExceeded, its subclass (--max-storage)
    OffsetMismatch: 409,
    UploadLocked: 423,
    ChecksumMismatch: 460,
    LengthConflict: 400,
    PastLength: 413,
    UploadFinished: 403,
}


def status_of(exc: BaseException) -> int:
    """The status of ``exc``'s nearest class in ``STATUS`` (500 if none)."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


def error_payload(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def error_body(status: int, message: str) -> bytes:
    """The JSON body of an error answer."""
    return json_bytes(error_payload(status, message))


def domain_error_headers(exc: DomainError) -> list[tuple[str, str]]:
    """Headers that go with the answer to ``exc``: ``Retry-After`` on a 503
    that will pass, ``WWW-Authenticate`` on the 401 of a delete without token
    (RFC 9110 requires one; the scheme names the header that carries it)."""
    if isinstance(exc, (DownloadsBusy, LedgerBusy)):
        return [("Retry-After", str(exc.retry_after))]
    if isinstance(exc, DeleteUnauthorized):
        return [("WWW-Authenticate", 'X-Delete-Token realm="delete"')]
    return []


def domain_error_payload(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """The status and JSON payload that answer a domain error."""
    if isinstance(exc, FileNotFound):
        return 404, {"status": 404, "file": exc.file_id, "message": "is not found"}
    status = status_of(exc)
    return status, error_payload(status, str(exc))
