"""``GET /openapi.json`` kept true: schemathesis generates requests for every
operation it describes and sends them to the live service, checking that no
answer is a server error, and that each answer's status, content type,
headers and JSON body are the ones the document gives. Bounded: a few
examples per operation, a fixed seed, a time limit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, ServiceFactory

pytestmark = pytest.mark.e2e

SCHEMATHESIS = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "schemathesis"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "unsupported_method",
          "allow_header_conformance")
SEED = "20261202"
EXAMPLES = "5"  # per operation and phase
TIME_LIMIT = 100.0  # seconds; a run takes about 10


TOKEN = "openapi-test-token-0123456789"
LIMITS = ("--max-upload-size", "64", "--max-storage", "2K", "--cors-origin", "*", "--requests-per-minute", "6000",
          "--upload-token", TOKEN)


def schemathesis_run(url: str, workdir: Path, *extra: str,
                     checks: tuple[str, ...] = CHECKS) -> subprocess.CompletedProcess[str]:
    command = [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", ",".join(checks),
               "--max-examples", EXAMPLES, "--seed", SEED, "--generation-database", "none",
               "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
               "--workers", "1", "--request-timeout", "10", "--max-failures", "20", "--no-color", *extra]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIME_LIMIT)


def passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "Operations:       " in result.stdout, result.stdout[-3000:]


def test_the_live_service_answers_as_its_openapi_document_says(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service()
    document = requests.get(service.url + "/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1") and "/files/{id}" in document["paths"]
    passed(schemathesis_run(service.url, tmp_path))


def test_and_so_it_does_with_limits_tokens_and_cors(make_service: ServiceFactory, tmp_path: Path) -> None:
    """Small size and storage limits (413, 507), CORS, a request rate, and
    upload tokens (every request sends one, and an Origin). ``unsupported_method`` is left
    out: with tokens, a POST or PUT anywhere is 401 before it is routed (see
    adapters/http/admission.py), not the 405 that check expects."""
    service = make_service(*LIMITS)
    passed(schemathesis_run(service.url, tmp_path, "-H", f"Authorization: Bearer {TOKEN}",
                            "-H", "Origin: https://app.example",
                            checks=tuple(check for check in CHECKS if check != "unsupported_method")))
