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
    def __init__(self) -> None:
        super().__init__("not enough storage space for this upload")


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
