"""A bounded memo of values derived from immutable records."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

S = TypeVar("S")
V = TypeVar("V")


class IdentityMemo(Generic[S, V]):
    """Remembers, per key, the value made from a source record, for as long as
    the caller hands back that very record object: the store returns the same
    ``BlobInfo`` and the services the same ``StoredFile`` while the file is
    unchanged, so an identity check is enough. Bounded; oldest entries go first."""

    def __init__(self, make: Callable[[str, S], V], limit: int = 4096) -> None:
        self._make = make
        self._limit = limit
        self._values: dict[str, tuple[S, V]] = {}

    def get(self, key: str, source: S) -> V:
        known = self._values.get(key)
        if known is not None and known[0] is source:
            return known[1]
        value = self._make(key, source)
        if len(self._values) >= self._limit:
            del self._values[next(iter(self._values))]
        self._values[key] = (source, value)
        return value
