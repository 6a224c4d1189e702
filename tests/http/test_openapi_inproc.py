"""``GET /openapi.json`` in-process, and the document's schemas held to the
answers the service really gives (the same keys, no more, no fewer)."""

from __future__ import annotations

import json
from typing import Any

from adapters.http.openapi import describe
from adapters.http.openapi_descriptions import SCHEMAS
from adapters.http.routes import ROUTES
from config import VERSION, Config
from tests.fake_resumable import MemoryResumableStore
from tests.http.calls import ask, upload
from tests.inproc import App, run


def keys(schema: str) -> set[str]:
    return set(SCHEMAS[schema]["properties"])


def required(schema: str) -> set[str]:
    return set(SCHEMAS[schema]["required"])


def test_the_document_is_served_as_json() -> None:
    async def main() -> None:
        app = App()
        got = await ask(app, "GET", "/openapi.json")
        assert got.status == 200 and got.headers["content-type"] == "application/json"
        assert got.json() == json.loads(json.dumps(describe(ROUTES, VERSION)))
        head = await ask(app, "HEAD", "/openapi.json")
        assert head.status == 200 and head.body == b"" and head.headers["content-length"] == str(len(got.body))
        behind = await ask(App(Config(public_url="https://files.example.com/up")), "GET", "/openapi.json")
        assert behind.json()["servers"] == [{"url": "https://files.example.com/up"}]

    run(main)


def test_the_schemas_have_the_keys_of_the_answers() -> None:
    async def main() -> None:
        app = App(Config(), MemoryResumableStore())
        answer = await upload(app, b"hello", Content_Disposition='attachment; filename="a.txt"')
        assert set(answer) == keys("Uploaded") == required("Uploaded")
        assert keys("Upload") == keys("Uploaded") | {"files"}
        check = (await ask(app, "GET", f"/check/{answer['id']}")).json()
        assert set(check) == keys("Check") == required("Check")
        health = (await ask(app, "GET", "/healthz")).json()
        assert set(health) == keys("Health")
        missing = (await ask(app, "GET", "/check/nothere")).json()
        refused = (await ask(app, "PATCH", "/check/x")).json()
        assert set(missing) == keys("Error") and set(refused) == required("Error")
        created = await ask(app, "POST", "/files/", Tus_Resumable="1.0.0", Upload_Length="5")
        upload_id = created.headers["location"].rsplit("/", 1)[1]
        progress: dict[str, Any] = (await ask(app, "GET", f"/files/{upload_id}")).json()
        assert set(progress) == keys("TusProgress")
        patched = await ask(app, "PATCH", f"/files/{upload_id}", b"hello", Tus_Resumable="1.0.0",
                            Upload_Offset="0", Content_Type="application/offset+octet-stream")
        assert patched.status == 204, patched
        finished = (await ask(app, "GET", f"/files/{upload_id}")).json()
        assert set(finished) == keys("TusFinished") == required("TusFinished")

    run(main)
