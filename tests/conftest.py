"""Fixtures shared by every kind of test."""

from tests.seaweed import seaweed  # noqa: F401  (the real SeaweedFS, started once per session when a test asks)
