"""The file metadata model and how it is kept as blob metadata."""

from __future__ import annotations

import mimetypes
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from ports.storage import BlobInfo

MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class StoredFile:
    """A committed upload. ``created`` is timezone-aware UTC."""

    id: str
    name: str
    size: int
    content_type: str
    sha256: str
    created: datetime

    @property
    def created_rfc3339(self) -> str:
        return self.created.isoformat(timespec="seconds").replace("+00:00", "Z")

    def to_metadata(self) -> dict[str, str]:
        """The string metadata stored with the blob (the store does not
        interpret it). ``size`` is the blob's own and is not repeated."""
        return {
            "name": self.name,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "created": self.created_rfc3339,
        }

    @classmethod
    def from_metadata(cls, file_id: str, size: int, metadata: Mapping[str, str]) -> StoredFile:
        created = datetime.fromisoformat(metadata["created"].replace("Z", "+00:00"))
        return cls(
            id=file_id,
            name=metadata["name"],
            size=size,
            content_type=metadata["content_type"],
            sha256=metadata["sha256"],
            created=created.astimezone(timezone.utc),
        )


DEFAULT_CONTENT_TYPE = "application/octet-stream"


def clean_content_type(raw: str | None) -> str:
    """The media type as stored: printable ASCII only, parameters kept,
    ``application/octet-stream`` when absent or unusable."""
    if not raw:
        return DEFAULT_CONTENT_TYPE
    value = raw.strip()
    if not value or len(value) > 255 or not all(" " <= c <= "~" for c in value) or "/" not in value:
        return DEFAULT_CONTENT_TYPE
    return value


def clean_name(raw: str | None) -> str | None:
    """The client's file name reduced to something safe to show and to put
    in a header: the last path component, no control or format characters,
    at most ``MAX_NAME_CHARS``. ``None`` when nothing usable is left. The
    name is metadata only; it never becomes a path."""
    if raw is None:
        return None
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().strip(".").strip()
    if not name:
        return None
    return name[:MAX_NAME_CHARS]


def generated_name(file_id: str, content_type: str) -> str:
    """A name for an upload that came without one: the id plus an extension
    guessed from the media type (none for unknown or generic types)."""
    media = content_type.split(";", 1)[0].strip().lower()
    extension = None if media == DEFAULT_CONTENT_TYPE else mimetypes.guess_extension(media, strict=False)
    return file_id + (extension or "")


def stored_from_info(file_id: str, info: BlobInfo) -> StoredFile:
    """The file record a blob's metadata describes."""
    return StoredFile.from_metadata(file_id, info.size, info.metadata)
