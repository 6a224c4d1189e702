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
