"""Expiry, download limits, deletion and the quota through HTTP, in-process
and in virtual time (see tests/inproc.py): each header and status."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from config import Config
from domain.lifecycle import LEASE_SECONDS
from ports.ledger import LedgerUnavailable, Record, Reservation
from tests.inproc import App, Reply, run, settle

CREATED = 1_700_001_000  # LoopClock.wall() when the virtual loop starts
DAY = 86400
METADATA = {"name": "f.bin", "content_type": "application/octet-stream", "sha256": "0" * 64,
            "created": "2023-11-14T22:30:00Z"}


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: h"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    framed = {"Content_Length", "Transfer_Encoding"} & set(headers)
    if body or (method in ("POST", "PUT") and not framed):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def ask(app: App, method: str, path: str, body: bytes = b"", **headers: str) -> Reply:
    pipe = app.connect()
    pipe.send(request(method, path, body, **headers))
    await settle()
    [reply] = pipe.replies(frozenset({0}) if method == "HEAD" else frozenset())
    return reply


async def upload(app: App, body: bytes = b"hello", **headers: str) -> dict[str, Any]:
    reply = await ask(app, "POST", "/upload/", body, **headers)
    assert reply.status == 201, reply
    answer: dict[str, Any] = reply.json()
    assert reply.headers["x-url-delete"] == answer["linkfordelete"]
    return answer


def gone(reply: Reply, file_id: str) -> bool:
    return reply.status == 404 and reply.json() == {"status": 404, "file": file_id, "message": "is not found"}


# -- upload answers and expiry ---------------------------------------------------------


def test_the_upload_answer_has_expiry_downloads_and_the_delete_link() -> None:
    async def main() -> None:
        app = App()
        answer = await upload(app)
        assert answer["expires"] == "2023-11-21T22:30:00Z"  # created + the default 7 days
        assert answer["downloads_left"] is None
        token = answer["deletetoken"]
        assert len(token) >= 32 and answer["linkfordelete"] == f"http://h/delete/id-1/{token}"
        # Only the token's hash is kept.
        assert app.ledger.records["id-1"].delete_token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert app.ledger.records["id-1"].expires == CREATED + 7 * DAY
        check = await ask(app, "GET", "/check/id-1")
        assert check.json()["expires"] == answer["expires"] and check.json()["downloads_left"] is None

    run(main)


@pytest.mark.parametrize("config, headers, life", [
    (Config(), {"Expires-In": "1h"}, 3600),
    (Config(), {"Expires-In": "1d12h"}, 36 * 3600),
    (Config(), {"Max-Days": "2"}, 2 * DAY),
    (Config(), {"Max-Days": "30"}, 7 * DAY),                  # longer than allowed: clamped
    (Config(), {"Expires-In": "0"}, 7 * DAY),                 # forever is longer than allowed
    (Config(), {"Expires-In": "2h", "Max-Days": "1"}, 2 * 3600),  # both: the shorter
    (Config(max_ttl=30 * DAY), {"Expires-In": "10d"}, 10 * DAY),
    (Config(max_ttl=30 * DAY), {}, 7 * DAY),
    (Config(default_ttl=0), {}, None),
    (Config(default_ttl=0), {"Expires-In": "5m"}, 300),
    (Config(default_ttl=0), {"Expires-In": "0"}, None),
    (Config(default_ttl=3600, max_ttl=0), {"Expires-In": "0"}, None),
])
def test_an_upload_asks_for_its_life_within_the_ceiling(config: Config, headers: dict[str, str],
                                                        life: int | None) -> None:
    async def main() -> None:
        app = App(config)
        answer = await upload(app, b"hello", **headers)
        record = app.ledger.records["id-1"]
        assert record.expires == (None if life is None else CREATED + life)
        assert (answer["expires"] is None) == (life is None)

    run(main)


@pytest.mark.parametrize("name, value", [
    ("Expires-In", "soon"), ("Expires-In", "-1h"), ("Expires-In", "1.5h"), ("Expires-In", ""), ("Expires-In", "9" * 40),
    ("Max-Days", "0"), ("Max-Days", "x"), ("Max-Days", "1e3"), ("Max-Days", "123456"), ("Max-Days", "-2"),
    ("Max-Downloads", "0"), ("Max-Downloads", "-1"), ("Max-Downloads", "two"), ("Max-Downloads", "1234567890"),
])
def test_a_malformed_lifecycle_header_is_400_and_nothing_is_stored(name: str, value: str) -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(request("POST", "/upload/", b"", **{name: value, "Content_Length": "5", "Expect": "100-continue"}))
        await settle()
        [reply] = pipe.replies()
        assert reply.status == 400 and name in reply.json()["message"], reply
        assert not app.store.blobs and not app.ledger.records

    run(main)


def test_an_expired_file_is_gone_at_once_and_the_janitor_removes_it() -> None:
    async def main() -> None:
        app = App()
        await upload(app, b"short-lived", Expires_In="10s")
        await settle(9)
        assert (await ask(app, "GET", "/check/id-1")).status == 200
        await settle(1)
        for kind in ("check", "download"):
            assert gone(await ask(app, "GET", f"/{kind}/id-1"), "id-1")
        assert (await ask(app, "HEAD", "/download/id-1")).status == 404
        assert "id-1" in app.store.blobs  # not yet swept
        assert await app.janitor.sweep() == 1
        assert not app.store.blobs and not app.ledger.records

    run(main)


def test_the_janitor_runs_on_its_interval_and_sweeps_what_expired_before_it_started() -> None:
    async def main() -> None:
        app = App(Config(janitor_interval=30))
        await upload(app, b"a", Expires_In="5s")
        await upload(app, b"b", Expires_In="40s")
        await upload(app, b"c")
        await settle(6)  # id-1 expired while no janitor ran
        sweeping = asyncio.ensure_future(app.janitor.run())
        await settle()
        assert set(app.store.blobs) == {"id-2", "id-3"}
        await settle(30)  # second sweep at +36 s: id-2 (expires at +40 s) is still there
        assert set(app.store.blobs) == {"id-2", "id-3"}
        await settle(30)
        assert set(app.store.blobs) == {"id-3"} and set(app.ledger.records) == {"id-3"}
        sweeping.cancel()

    run(main)


def test_a_download_in_progress_survives_expiry_and_the_janitor() -> None:
    async def main() -> None:
        app = App(Config(download_rate=10_000, janitor_interval=5))
        body = bytes(range(256)) * 800  # 204,800 bytes: about 14 s at 10,000 B/s
        await app.put("id-1", body, METADATA, expires=CREATED + 3.0)
        await app.put("id-2", body, METADATA, expires=CREATED + 3.0, max_downloads=1)
        sweeping = asyncio.ensure_future(app.janitor.run())
        pipes = [app.connect(), app.connect()]
        pipes[0].send(request("GET", "/download/id-1"))
        pipes[1].send(request("GET", "/download/id-2"))
        await settle(6)
        assert not app.store.blobs and not app.ledger.records  # swept mid-download
        await settle(20)
        for pipe in pipes:
            [reply] = pipe.replies()
            assert reply.status == 200 and reply.body == body and not pipe.aborted
        sweeping.cancel()

    run(main)


# -- download limits ---------------------------------------------------------------------


def test_only_responses_that_deliver_the_last_byte_count() -> None:
    async def main() -> None:
        app = App()
        body = bytes(range(100))
        answer = await upload(app, body, Max_Downloads="2")
        assert answer["downloads_left"] == 2
        assert (await ask(app, "HEAD", "/download/id-1")).status == 200
        assert (await ask(app, "GET", "/download/id-1", Range="bytes=0-49")).status == 206
        etag = (await ask(app, "HEAD", "/download/id-1")).headers["etag"]
        assert (await ask(app, "GET", "/download/id-1", If_None_Match=etag)).status == 304
        assert (await ask(app, "GET", "/check/id-1")).json()["downloads_left"] == 2
        full = await ask(app, "GET", "/download/id-1")
        assert full.status == 200 and full.body == body
        assert (await ask(app, "GET", "/check/id-1")).json()["downloads_left"] == 1
        resumed = await ask(app, "GET", "/download/id-1", Range="bytes=50-")  # a resume that finishes: counts
        assert resumed.status == 206 and resumed.body == body[50:]
        # The last one: the file is deleted, blob and record, not merely blocked.
        assert not app.store.blobs and not app.ledger.records
        assert gone(await ask(app, "GET", "/check/id-1"), "id-1")
        assert gone(await ask(app, "GET", "/download/id-1"), "id-1")

    run(main)


def test_an_interrupted_download_does_not_count_and_frees_its_slot() -> None:
    async def main() -> None:
        app = App(Config(download_rate=10_000))
        body = b"i" * 200_000
        await upload(app, body, Max_Downloads="1")
        pipe = app.connect()
        pipe.send(request("GET", "/download/id-1"))
        await settle(3)
        assert app.ledger.leases  # in progress: holds the only slot
        busy = await ask(app, "GET", "/download/id-1")
        assert busy.status == 503 and busy.headers["retry-after"] == "5"
        assert "in progress" in busy.json()["message"]
        pipe.abort()  # the client goes away; the server sees it at its next slice
        await settle(1)
        assert not app.ledger.leases and app.ledger.records["id-1"].downloads == 0
        assert (await ask(app, "GET", "/check/id-1")).json()["downloads_left"] == 1
        fast = App(Config(), store=app.store, ledger=app.ledger)
        reply = await ask(fast, "GET", "/download/id-1")
        assert reply.status == 200 and reply.body == body
        assert not app.store.blobs

    run(main)


def test_a_slow_download_keeps_its_lease_and_counts_once_complete() -> None:
    async def main() -> None:
        app = App(Config(download_rate=10_000))
        body = b"s" * (int(LEASE_SECONDS * 10_000) * 4)  # four leases long
        await upload(app, body, Max_Downloads="2")
        pipe = app.connect()
        pipe.send(request("GET", "/download/id-1"))
        await settle(LEASE_SECONDS * 2)
        # Still in progress and renewed: a second download may still start (2 allowed), a third not.
        second = app.connect()
        second.send(request("GET", "/download/id-1"))
        await settle(1)
        assert (await ask(app, "GET", "/download/id-1")).status == 503
        await settle(LEASE_SECONDS * 5)
        assert [r.status for r in pipe.replies() + second.replies()] == [200, 200]
        assert not app.store.blobs and not app.ledger.records

    run(main)


def test_a_lost_lease_aborts_the_download_before_its_last_byte() -> None:
    async def main() -> None:
        app = App(Config(download_rate=10_000))
        body = b"l" * 600_000  # about 53 s
        await upload(app, body, Max_Downloads="1")
        renew = app.ledger.renew

        async def unavailable(reservation: Reservation, now: float) -> bool:
            raise LedgerUnavailable("ledger: database is locked")

        app.ledger.renew = unavailable  # type: ignore[method-assign]
        pipe = app.connect()
        pipe.send(request("GET", "/download/id-1"))
        await settle(LEASE_SECONDS + 1)  # no renewal went through: the lease lapsed, the slot is free
        app.ledger.renew = renew  # type: ignore[method-assign]
        other = App(Config(), store=app.store, ledger=app.ledger)
        taken = await ask(other, "GET", "/download/id-1")
        assert taken.status == 200 and taken.body == body
        await settle(30)
        assert pipe.aborted  # never the last byte: two complete copies would be one too many
        assert len(pipe.received) - pipe.received.index(b"\r\n\r\n") - 4 == len(body) - 1
        assert not app.store.blobs and not app.ledger.records

    run(main)


def test_concurrent_downloads_at_the_limit_deliver_exactly_the_limit() -> None:
    async def main() -> None:
        app = App()
        body = b"c" * 300_000
        await upload(app, body, Max_Downloads="2")
        pipes = [app.connect() for _ in range(6)]
        for pipe in pipes:
            pipe.send(request("GET", "/download/id-1"))
        await settle()
        statuses = sorted(r.status for pipe in pipes for r in pipe.replies())
        assert statuses[:2] == [200, 200] and set(statuses[2:]) <= {404, 503}
        assert not app.store.blobs and not app.ledger.records

    run(main)


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
        assert gone(await ask(app, "DELETE", "/download/../x", X_Delete_Token=token), "..")
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
