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
    ChecksumMismatch,
    DomainError,
    EmptyUpload,
    FileNotFound,
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
    FileNotFound: 404,
    EmptyUpload: 400,
    UploadTooLarge: 413,
    StorageFull: 507,
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


def domain_error_payload(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """The status and JSON payload that answer a domain error."""
    if isinstance(exc, FileNotFound):
        return 404, {"status": 404, "file": exc.file_id, "message": "is not found"}
    status = status_of(exc)
    return status, error_payload(status, str(exc))
