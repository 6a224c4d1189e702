"""Domain errors. The HTTP transport maps each to a status code in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class FileNotFound(DomainError):
    def __init__(self, file_id: str) -> None:
        super().__init__(f"file {file_id!r} is not found")
        self.file_id = file_id


class UploadTooLarge(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds the limit of {limit} bytes")
        self.limit = limit


class EmptyUpload(DomainError):
    def __init__(self) -> None:
        super().__init__("upload body is empty")


class StorageFull(DomainError):
    def __init__(self, message: str = "not enough storage space for this upload") -> None:
        super().__init__(message)


class QuotaExceeded(StorageFull):
    """The upload would take the stored total beyond ``--max-storage``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the storage quota of {limit} bytes would be exceeded by this upload")
        self.limit = limit


class BadUploadTerms(DomainError):
    """A malformed lifecycle header on an upload (``Expires-In``, ``Max-Days``, ``Max-Downloads``)."""


class DownloadsBusy(DomainError):
    """Every download the file has left is in progress right now; one may
    free up (an interrupted download does not count), so retry later."""

    def __init__(self, file_id: str, retry_after: int) -> None:
        super().__init__(f"every download left of file {file_id!r} is in progress; retry later")
        self.file_id = file_id
        self.retry_after = retry_after


class DeleteUnauthorized(DomainError):
    """A delete request without any delete token."""

    def __init__(self) -> None:
        super().__init__("a delete token is required (X-Delete-Token, or the linkfordelete URL)")


class DeleteForbidden(DomainError):
    """A delete request whose token does not match the file's."""

    def __init__(self) -> None:
        super().__init__("the delete token does not match")


class LedgerBusy(DomainError):
    """The metadata ledger could not answer in time (or hit a disk error);
    nothing was changed, the request may be retried."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the file index is busy; retry later")
        self.retry_after = retry_after


# -- resumable uploads (tus) -------------------------------------------------------


class OffsetMismatch(DomainError):
    """An append did not start where the upload stands."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"the upload is at offset {expected}, not {given}")
        self.expected = expected


class UploadLocked(DomainError):
    def __init__(self) -> None:
        super().__init__("another request is appending to this upload; retry when it is done")


class ChecksumMismatch(DomainError):
    def __init__(self, algorithm: str) -> None:
        super().__init__(f"the {algorithm} checksum of the chunk does not match: chunk discarded")


class LengthConflict(DomainError):
    """The upload's length was given twice with different values, or is
    below what was already received."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class PastLength(DomainError):
    """An append would pass the upload's declared length."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the upload's length is {length} bytes: this chunk would pass it")
        self.length = length


class UploadFinished(DomainError):
    """The upload is complete: it is a stored file, out of the upload URL's reach."""

    def __init__(self) -> None:
        super().__init__("the upload is finished: it is a stored file now")
