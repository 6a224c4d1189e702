"""What an upload asks for and what the service allows: the upload terms
(``Expires-In``, ``Max-Days``, ``Max-Downloads`` headers) and the policy
(``--default-ttl``, ``--max-ttl``, ``--max-storage``). Pure rules, no ports.

Header values are read in time linear in their length and never reach
``int()`` with more than a handful of digits."""

from __future__ import annotations

from dataclasses import dataclass

from domain.durations import parse_duration
from domain.errors import BadUploadTerms

DAY = 86400
MAX_DAYS_DIGITS = 5            # Max-Days: up to 99999 days (then clamped to the policy's ceiling)
MAX_DOWNLOADS_DIGITS = 9       # Max-Downloads: up to 999,999,999
_DIGITS = frozenset("0123456789")


def _count(header: str, text: str, digits: int) -> int:
    value = text.strip(" \t")
    if not value or len(value) > digits or not _DIGITS.issuperset(value) or int(value) < 1:
        raise BadUploadTerms(f"{header} must be a positive whole number of at most {digits} digits, not {text!r}")
    return int(value)


@dataclass(frozen=True)
class UploadTerms:
    """What an upload asked for. ``life``: seconds it asked to live (``0``
    for forever), ``None`` for the service's default; the policy clamps it.
    ``max_downloads``: complete downloads allowed, ``None`` for unlimited."""

    life: float | None = None
    max_downloads: int | None = None

    @classmethod
    def parse(cls, expires_in: str | None, max_days: str | None, max_downloads: str | None) -> UploadTerms:
        """The terms from the raw header values (``None`` when absent).
        ``Expires-In`` is a duration (``12h``, ``1d12h``, ``90``; ``0`` asks
        for forever); ``Max-Days`` (transfer.sh) a positive number of days.
        With both, the shorter life wins. Raises ``BadUploadTerms`` (400)."""
        lives = []
        if expires_in is not None:
            try:
                lives.append(parse_duration(expires_in))
            except ValueError as exc:
                raise BadUploadTerms(f"Expires-In: {exc}") from None
        if max_days is not None:
            lives.append(float(_count("Max-Days", max_days, MAX_DAYS_DIGITS) * DAY))
        life = None
        if lives:
            finite = [value for value in lives if value]
            life = min(finite) if finite else 0.0
        limit = None if max_downloads is None else _count("Max-Downloads", max_downloads, MAX_DOWNLOADS_DIGITS)
        return cls(life, limit)


@dataclass(frozen=True)
class LifecyclePolicy:
    """``default_ttl``: seconds an upload lives when it asks nothing (``0``:
    forever). ``max_ttl``: the longest life an upload may ask for (``0``: no
    limit; ``None``: ``default_ttl``, so uploads can only shorten their life).
    ``max_storage``: bytes all stored files may take together (``0``: no limit)."""

    default_ttl: float = 7 * DAY
    max_ttl: float | None = None
    max_storage: int = 0

    @property
    def ceiling(self) -> float | None:
        """The longest life in seconds, ``None`` when there is no limit."""
        ceiling = self.default_ttl if self.max_ttl is None else self.max_ttl
        return ceiling or None

    def life(self, asked: float | None) -> float | None:
        """Seconds a file that asked for ``asked`` lives, ``None`` for forever.
        A longer wish than the ceiling is clamped to it (the answer's
        ``expires`` says what was granted); ``0`` asks for forever."""
        life = self.default_ttl if asked is None else asked
        ceiling = self.ceiling
        if ceiling is not None and (not life or life > ceiling):
            return ceiling
        return life or None
