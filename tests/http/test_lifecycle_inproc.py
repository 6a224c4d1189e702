"""Expiry and download limits through HTTP, in-process and in virtual time
(see tests/inproc.py): each header and status. Deletion and the quota are in
test_delete_quota_inproc.py."""

from __future__ import annotations

import asyncio
import hashlib
import pytest

from config import Config
from domain.lifecycle import LEASE_SECONDS
from ports.ledger import LedgerUnavailable, Reservation
from tests.http.calls import METADATA, ask, gone, request, upload
from tests.inproc import App, run, settle

CREATED = 1_700_001_000  # LoopClock.wall() when the virtual loop starts
DAY = 86400


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
