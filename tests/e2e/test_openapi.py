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


def schemathesis_run(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", EXAMPLES, "--seed", SEED, "--generation-database", "none",
               "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
               "--workers", "1", "--request-timeout", "10", "--max-failures", "20", "--no-color"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIME_LIMIT)


@pytest.mark.parametrize("flags", [(), ("--max-upload-size", "64", "--cors-origin", "*")], ids=["default", "limits"])
def test_the_live_service_answers_as_its_openapi_document_says(make_service: ServiceFactory, tmp_path: Path,
                                                               flags: tuple[str, ...]) -> None:
    service = make_service(*flags)
    document = requests.get(service.url + "/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1") and "/files/{id}" in document["paths"]
    result = schemathesis_run(service.url, tmp_path)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "Operations:       " in result.stdout, result.stdout[-3000:]
