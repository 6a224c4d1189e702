"""Schemathesis hooks for tests/e2e/test_openapi.py (loaded through
``SCHEMATHESIS_HOOKS``): tus's request bodies are bytes, sent as octet streams."""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
