"""Deletion, the storage quota, and the ledger as the truth, through HTTP,
in-process and in virtual time (see tests/inproc.py)."""

from __future__ import annotations

from config import Config
from ports.ledger import LedgerUnavailable, Record
from tests.http.calls import METADATA, ask, gone, request, upload
from tests.inproc import App, run, settle


# -- deletion ------------------------------------------------------------------------------


def test_delete_with_the_token_header_or_the_delete_link() -> None:
    async def main() -> None:
        app = App()
        first = await upload(app, b"one")
        second = await upload(app, b"two")
        deleted = await ask(app, "DELETE", "/download/id-1", X_Delete_Token=first["deletetoken"])
        assert deleted.status == 204 and "content-length" not in deleted.headers and deleted.body == b""
        assert "id-1" not in app.store.blobs and "id-1" not in app.ledger.records
        assert gone(await ask(app, "GET", "/check/id-1"), "id-1")
        link = second["linkfordelete"].removeprefix("http://h")
        assert (await ask(app, "GET", link)).status == 405  # a link preview never deletes
        assert (await ask(app, "DELETE", link)).status == 204
        assert not app.store.blobs and not app.ledger.records
        assert gone(await ask(app, "DELETE", link), "id-2")  # already gone

    run(main)


def test_delete_without_a_token_is_401_and_with_a_wrong_one_403() -> None:
    async def main() -> None:
        app = App()
        answer = await upload(app)
        token = answer["deletetoken"]
        missing = await ask(app, "DELETE", "/download/id-1")
        assert missing.status == 401 and missing.headers["www-authenticate"].startswith("X-Delete-Token")
        assert (await ask(app, "DELETE", "/delete/id-1/")).status == 401
        for wrong in (token[:-1], token + "x", "x" * 5000, token.upper()):
            assert (await ask(app, "DELETE", "/download/id-1", X_Delete_Token=wrong)).status == 403
        assert (await ask(app, "DELETE", "/delete/id-1/" + token[:-1])).status == 403
        assert gone(await ask(app, "DELETE", "/download/id-9", X_Delete_Token=token), "id-9")
        assert gone(await ask(app, "DELETE", "/download/..", X_Delete_Token=token), "..")
        assert (await ask(app, "GET", "/check/id-1")).status == 200  # still there
        assert (await ask(app, "DELETE", "/delete/id-1/" + token)).status == 204

    run(main)


def test_an_expired_file_cannot_be_deleted_again_but_its_token_removes_it_before_the_janitor() -> None:
    async def main() -> None:
        app = App()
        answer = await upload(app, Expires_In="5s")
        await settle(6)
        assert (await ask(app, "DELETE", "/download/id-1", X_Delete_Token="wrong")).status == 404
        assert (await ask(app, "DELETE", "/download/id-1", X_Delete_Token=answer["deletetoken"])).status == 204
        assert not app.store.blobs and not app.ledger.records

    run(main)


# -- quota ---------------------------------------------------------------------------------


def test_the_storage_quota_refuses_uploads_up_front_and_while_streaming() -> None:
    async def main() -> None:
        app = App(Config(max_storage=100))
        first = await upload(app, b"a" * 60)
        pipe = app.connect()
        pipe.send(request("POST", "/upload/", Content_Length="41", Expect="100-continue"))
        await settle()
        [refused] = pipe.replies()
        assert refused.status == 507 and "quota" in refused.json()["message"]
        assert b"100 Continue" not in bytes(pipe.received)  # refused before the body was asked for
        chunked = app.connect()
        chunked.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"14\r\n" + b"b" * 20 + b"\r\n14\r\n" + b"b" * 20 + b"\r\n5\r\nbbbbb\r\n0\r\n\r\n")
        await settle()
        assert [r.status for r in chunked.replies()] == [507]
        assert set(app.store.blobs) == {"id-1"} and app.store.open_writers == 0
        assert (await ask(app, "POST", "/upload/", b"c" * 40)).status == 201  # exactly up to the quota
        assert (await ask(app, "POST", "/upload/", b"d")).status == 507
        assert (await ask(app, "DELETE", "/download/id-1", X_Delete_Token=first["deletetoken"])).status == 204
        assert (await ask(app, "POST", "/upload/", b"e" * 60)).status == 201

    run(main)


def test_the_quota_counts_what_other_processes_committed_meanwhile() -> None:
    async def main() -> None:
        app = App(Config(max_storage=100))
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n" + b"a" * 20
                  + b"\r\n")
        await settle()
        # Another worker stores 90 bytes while this upload streams.
        await app.ledger.add(Record("other", 90, 0.0, None, None, 0, "0" * 64, ""))
        pipe.send(b"0\r\n\r\n")
        await settle()
        assert [r.status for r in pipe.replies()] == [507]
        assert not app.store.blobs

    run(main)


# -- the ledger is the truth -----------------------------------------------------------------


def test_a_blob_without_a_ledger_record_is_not_found() -> None:
    async def main() -> None:
        app = App()
        app.store.blobs["id-1"] = (b"orphan", METADATA)
        for kind in ("check", "download"):
            assert gone(await ask(app, "GET", f"/{kind}/id-1"), "id-1")

    run(main)


def test_a_failed_ledger_add_deletes_the_blob_and_answers_503() -> None:
    async def main() -> None:
        app = App()

        async def unavailable(record: Record) -> None:
            raise LedgerUnavailable("ledger: database is locked")

        app.ledger.add = unavailable  # type: ignore[method-assign]
        reply = await ask(app, "POST", "/upload/", b"data")
        assert reply.status == 503 and reply.headers["retry-after"] == "2"
        assert not app.store.blobs and app.store.open_writers == 0

    run(main)
