"""tus 1.0.0 under /files/, in-process on the in-memory resumable store in
virtual time (tests/inproc.py): every status code of the protocol, and
expiry by the janitor."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from bootstrap import build_partial_janitor
from config import Config
from tests.fake_resumable import MemoryResumableStore
from tests.inproc import App, LoopClock, Pipe, Reply, run, settle

TUS = b"Tus-Resumable: 1.0.0\r\n"
OFFSET_STREAM = b"Content-Type: application/offset+octet-stream\r\n"
NAME = base64.b64encode("r\u00e9sum\u00e9.pdf".encode()).decode()
METADATA = f"filename {NAME},filetype YXBwbGljYXRpb24vcGRm,empty"


def app_with(**settings: object) -> App:
    return App(Config(**settings), MemoryResumableStore())  # type: ignore[arg-type]


def partials_of(app: App) -> MemoryResumableStore:
    assert isinstance(app.store, MemoryResumableStore)
    return app.store


async def exchange(app: App, raw: bytes, pipe: Pipe | None = None, head: bool = False) -> Reply:
    pipe = pipe or app.connect()
    pipe.send(raw)
    await settle()
    replies = pipe.replies(frozenset({0}) if head else frozenset())
    assert len(replies) == 1, replies
    return replies[0]


async def create(app: App, length: int | None = 11, extra: bytes = b"") -> str:
    size = b"Upload-Length: %d\r\n" % length if length is not None else b"Upload-Defer-Length: 1\r\n"
    reply = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + size
                           + f"Upload-Metadata: {METADATA}\r\n".encode() + extra + b"Content-Length: 0\r\n\r\n")
    assert reply.status == 201, reply
    location = reply.headers["location"]
    assert location.startswith("http://h/files/")
    return location.rsplit("/", 1)[1]


def patch(upload_id: str, offset: int, data: bytes, extra: bytes = b"", length: int | None = None) -> bytes:
    declared = len(data) if length is None else length
    return (b"PATCH /files/%s HTTP/1.1\r\nHost: h\r\n" % upload_id.encode() + TUS + OFFSET_STREAM
            + b"Upload-Offset: %d\r\nContent-Length: %d\r\n" % (offset, declared) + extra + b"\r\n" + data)


def head(upload_id: str, extra: bytes = TUS) -> bytes:
    return b"HEAD /files/%s HTTP/1.1\r\nHost: h\r\n" % upload_id.encode() + extra + b"\r\n"


def checksum(algorithm: str, data: bytes) -> bytes:
    digest = base64.b64encode(hashlib.new(algorithm, data).digest())
    return b"Upload-Checksum: %s %s\r\n" % (algorithm.encode(), digest)


def test_options_announce_the_protocol_without_tus_resumable() -> None:
    async def main() -> None:
        app = app_with(max_upload_size=1 << 20)
        for target in (b"/files/", b"/files", b"/files/id-1"):
            reply = await exchange(app, b"OPTIONS %s HTTP/1.1\r\nHost: h\r\n\r\n" % target)
            assert reply.status == 204 and reply.body == b""
            assert "content-length" not in reply.headers
            assert reply.headers["tus-version"] == "1.0.0"
            assert reply.headers["tus-extension"] == "creation,creation-with-upload,termination,checksum,expiration"
            assert reply.headers["tus-max-size"] == str(1 << 20)
            assert reply.headers["tus-checksum-algorithm"] == "sha1,sha256,md5"

    run(main)


def test_an_upload_in_three_patches_becomes_a_plain_stored_file() -> None:
    async def main() -> None:
        app = app_with()
        upload_id = await create(app)
        reply = await exchange(app, head(upload_id), head=True)
        assert reply.status == 200
        assert (reply.headers["upload-offset"], reply.headers["upload-length"]) == ("0", "11")
        assert reply.headers["upload-metadata"] == METADATA
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["tus-resumable"] == "1.0.0"
        assert reply.headers["upload-expires"].endswith(" GMT")
        pipe = app.connect()  # keep-alive: the appends share one connection
        for offset, piece in ((0, b"hello"), (5, b""), (5, b" ")):
            reply = await exchange(app, patch(upload_id, offset, piece), pipe)
            assert (reply.status, reply.headers["upload-offset"]) == (204, str(offset + len(piece)))
            assert "upload-download-link" not in reply.headers
        reply = await exchange(app, b"GET /files/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode(), pipe)
        progress = reply.json()
        assert (progress["offset"], progress["length"], progress["file"]) == (6, 11, "r\u00e9sum\u00e9.pdf")
        assert progress["message"] == "upload in progress" and progress["expires"].endswith("Z")
        reply = await exchange(app, patch(upload_id, 6, b"world"), pipe)
        assert (reply.status, reply.headers["upload-offset"]) == (204, "11")
        assert reply.headers["upload-check-link"] == f"http://h/check/{upload_id}"
        assert reply.headers["upload-download-link"] == f"http://h/download/{upload_id}"
        assert reply.headers["upload-share-link"] == f"http://h/share/{upload_id}"
        assert app.store.blobs[upload_id][0] == b"hello world"
        finished = (await exchange(app, b"GET /files/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())).json()
        plain = (await exchange(app, b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                                b'Content-Disposition: attachment; filename="r.pdf"\r\n\r\nhello world')).json()
        # A plain upload's keys, but for the delete link and token (shown once, to the uploader) and the
        # ledger's expiry and downloads left (GET /check/<id> has them).
        assert set(finished) == set(plain) - {"linkfordelete", "deletetoken", "expires", "downloads_left"}
        assert finished["status"] == 200
        assert finished["sha256"] == plain["sha256"] == hashlib.sha256(b"hello world").hexdigest()
        assert finished["fileisuploaded"] == "r\u00e9sum\u00e9.pdf"
        assert finished["linkfordownload"] == f"http://h/download/{upload_id}"
        assert finished["linkforshare"] == f"http://h/share/{upload_id}"
        check = (await exchange(app, b"GET /check/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())).json()
        assert check["sha256"] == plain["sha256"] and check["size"] == 11
        assert app.store.blobs[upload_id][1]["content_type"] == "application/pdf"
        reply = await exchange(app, head(upload_id), head=True)
        assert (reply.headers["upload-offset"], reply.headers["upload-length"]) == ("11", "11")
        assert reply.headers["upload-download-link"] == f"http://h/download/{upload_id}"
        assert not partials_of(app).partials

    run(main)


def test_refusals_before_any_byte_is_stored() -> None:
    async def main() -> None:
        app = app_with(max_upload_size=100)
        upload_id = await create(app)
        cases: list[tuple[bytes, int]] = [
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\nUpload-Length: 5\r\n\r\n", 412),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\nTus-Resumable: 0.2.2\r\nUpload-Length: 5\r\n\r\n", 412),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"\r\n", 400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 5\r\nUpload-Defer-Length: 1\r\n\r\n",
             400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Defer-Length: 2\r\n\r\n", 400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: -5\r\n\r\n", 400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 0\r\n\r\n", 400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 101\r\n\r\n", 413),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 5\r\nUpload-Metadata: a !!\r\n\r\n",
             400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 5\r\nUpload-Metadata: a,a\r\n\r\n",
             400),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 5\r\nContent-Length: 2\r\n\r\nab", 415),
            (b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + OFFSET_STREAM
             + b"Upload-Length: 1\r\nContent-Length: 2\r\n\r\nab", 413),
            (b"PUT /files/x HTTP/1.1\r\nHost: h\r\n\r\n", 405),
            (b"POST /files/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode(), 405),
            (b"POST /files/%s HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: PUT\r\n\r\n" % upload_id.encode(), 405),
            (head(upload_id, b""), 412),
            (head("id-99"), 404),
            (head("nope"), 404),
            (patch("id-99", 0, b"x"), 404),
            (patch(upload_id, 3, b"abc"), 409),
            (patch(upload_id, 0, b"abc").replace(b"offset+octet-stream", b"octet-stream"), 415),
            (patch(upload_id, 0, b"abc").replace(b"Upload-Offset: 0\r\n", b""), 400),
            (patch(upload_id, 0, b"abc", b"Upload-Checksum: crc32 AAAAAA==\r\n"), 400),
            (patch(upload_id, 0, b"abc", b"Upload-Checksum: sha1 AAAA\r\n"), 400),
            (patch(upload_id, 0, b"abc", b"Upload-Length: 12\r\n"), 400),
            (patch(upload_id, 0, b"x" * 12), 413),
            (b"DELETE /files/id-99 HTTP/1.1\r\nHost: h\r\n" + TUS + b"\r\n", 404),
        ]
        for raw, status in cases:
            reply = await exchange(app, raw, head=raw.startswith(b"HEAD"))
            assert reply.status == status, (raw, reply)
            if not raw.startswith(b"PUT"):  # the route table's own 405
                assert reply.headers.get("tus-resumable") == "1.0.0", raw
            if status == 412:
                assert reply.headers["tus-version"] == "1.0.0"
            if status == 405:
                assert "allow" in reply.headers
        assert (await partials_of(app).partial_info(upload_id)).offset == 0
        assert len(partials_of(app).partials) == 1

    run(main)


def test_checksums_keep_good_chunks_and_discard_bad_ones_with_460() -> None:
    async def main() -> None:
        app = app_with()
        upload_id = await create(app)
        pipe = app.connect()
        for algorithm in ("sha1", "sha256", "md5"):
            reply = await exchange(app, patch(upload_id, 0, b"hello", checksum(algorithm, b"jello")), pipe)
            assert (reply.status, reply.reason) == (460, "Checksum Mismatch")
            assert reply.json()["status"] == 460
            assert (await partials_of(app).partial_info(upload_id)).offset == 0
        assert not pipe.closing  # the body was read: the connection goes on
        reply = await exchange(app, patch(upload_id, 0, b"hello", checksum("sha256", b"hello")), pipe)
        assert (reply.status, reply.headers["upload-offset"]) == (204, "5")
        reply = await exchange(app, patch(upload_id, 5, b" world", checksum("md5", b" world")), pipe)
        assert reply.status == 204 and app.store.blobs[upload_id][0] == b"hello world"

    run(main)


def test_a_second_patch_while_one_runs_is_423_and_bytes_never_interleave() -> None:
    async def main() -> None:
        app = app_with()
        upload_id = await create(app)
        first = app.connect()
        first.send(patch(upload_id, 0, b"hello", length=5)[:-5] + b"he")  # the body trickles in
        await settle()
        reply = await exchange(app, patch(upload_id, 0, b"XXXXX"))
        assert reply.status == 423
        reply = await exchange(app, b"DELETE /files/%s HTTP/1.1\r\nHost: h\r\n" % upload_id.encode() + TUS + b"\r\n")
        assert reply.status == 423
        first.send(b"llo")
        await settle()
        [done] = first.replies()
        assert (done.status, done.headers["upload-offset"]) == (204, "5")
        assert bytes(partials_of(app).partials[upload_id].data) == b"hello"

    run(main)


def test_termination_and_what_a_finished_upload_refuses() -> None:
    async def main() -> None:
        app = app_with()
        upload_id = await create(app)
        delete = b"DELETE /files/%s HTTP/1.1\r\nHost: h\r\n" % upload_id.encode() + TUS + b"\r\n"
        assert (await exchange(app, delete)).status == 204
        assert (await exchange(app, head(upload_id), head=True)).status == 404
        assert (await exchange(app, delete)).status == 404
        done = await create(app, 3)
        assert (await exchange(app, patch(done, 0, b"abc"))).status == 204
        delete = b"DELETE /files/%s HTTP/1.1\r\nHost: h\r\n" % done.encode() + TUS + b"\r\n"
        assert (await exchange(app, delete)).status == 403  # its id is in a download link: not removable here
        assert done in app.store.blobs
        again = await exchange(app, patch(done, 3, b""))
        assert (again.status, again.headers["upload-offset"]) == (204, "3")
        assert "upload-download-link" in again.headers
        assert (await exchange(app, patch(done, 0, b"abc"))).status == 409
        assert (await exchange(app, patch(done, 3, b"d"))).status == 413

    run(main)


def test_method_override_creation_with_upload_and_deferred_length() -> None:
    async def main() -> None:
        app = app_with(max_upload_size=20)
        reply = await exchange(app, b"POST /files HTTP/1.1\r\nHost: h\r\n" + TUS + OFFSET_STREAM
                               + b"Upload-Defer-Length: 1\r\nContent-Length: 4\r\n\r\nabcd")
        assert (reply.status, reply.headers["upload-offset"]) == (201, "4")
        upload_id = reply.headers["location"].rsplit("/", 1)[1]
        reply = await exchange(app, head(upload_id), head=True)
        assert reply.headers["upload-defer-length"] == "1" and "upload-length" not in reply.headers
        assert "upload-metadata" not in reply.headers
        override = patch(upload_id, 4, b"efgh").replace(b"PATCH", b"POST") + b""
        override = override.replace(TUS, TUS + b"X-HTTP-Method-Override: PATCH\r\n")
        assert (await exchange(app, override)).headers["upload-offset"] == "8"
        assert (await exchange(app, patch(upload_id, 8, b"x" * 13))).status == 413  # over --max-upload-size
        assert (await exchange(app, patch(upload_id, 8, b"", b"Upload-Length: 21\r\n"))).status == 413
        assert (await exchange(app, patch(upload_id, 8, b"", b"Upload-Length: 7\r\n"))).status == 400
        reply = await exchange(app, patch(upload_id, 8, b"ij", b"Upload-Length: 10\r\n"))
        assert reply.status == 204 and app.store.blobs[upload_id][0] == b"abcdefghij"
        whole = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + OFFSET_STREAM
                               + b"Upload-Length: 3\r\n" + checksum("sha1", b"xyz") + b"Content-Length: 3\r\n\r\nxyz")
        assert whole.status == 201 and whole.headers["upload-download-link"].startswith("http://h/download/")
        bad = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + OFFSET_STREAM
                             + b"Upload-Length: 3\r\n" + checksum("sha1", b"abc") + b"Content-Length: 3\r\n\r\nxyz")
        assert bad.status == 460 and bad.headers["location"].startswith("http://h/files/")  # to resume from 0
        remove = b"POST /files/%s HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\n" % upload_id.encode()
        assert (await exchange(app, remove + TUS + b"\r\n")).status == 403

    run(main)


def test_a_cut_patch_keeps_what_arrived_unless_it_carried_a_checksum() -> None:
    async def main() -> None:
        app = app_with()
        upload_id = await create(app)
        pipe = app.connect()
        pipe.send(patch(upload_id, 0, b"hello", length=8)[:-5] + b"hello")
        await settle()
        pipe.protocol.connection_lost(ConnectionResetError())
        await settle()
        assert (await partials_of(app).partial_info(upload_id)).offset == 5
        pipe = app.connect()
        pipe.send(patch(upload_id, 5, b"abc", checksum("sha1", b" wo"), length=6)[:-3] + b" wo")
        await settle()
        pipe.protocol.connection_lost(ConnectionResetError())
        await settle()
        assert (await partials_of(app).partial_info(upload_id)).offset == 5
        stalled = app.connect()
        stalled.send(patch(upload_id, 5, b" wo", length=6))
        await settle(app.config.body_timeout + 1)
        assert [r.status for r in stalled.replies()] == [408]
        assert (await partials_of(app).partial_info(upload_id)).offset == 8
        reply = await exchange(app, patch(upload_id, 8, b"rld"))
        assert reply.status == 204 and app.store.blobs[upload_id][0] == b"hello world"

    run(main)


def test_limits_apply_speed_and_free_space() -> None:
    async def main() -> None:
        app = App(Config(upload_rate=64 << 10), MemoryResumableStore(capacity=300_000))
        upload_id = await create(app, 200_000)
        pipe = app.connect()
        pipe.send(patch(upload_id, 0, b"x" * 196_608))
        await settle(1.9)
        assert pipe.replies() == []  # (196608 - 65536 burst) / 65536 B/s = 2 s
        await settle(0.2)
        assert pipe.replies()[0].headers["upload-offset"] == "196608"
        reply = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 150000\r\n\r\n")
        assert reply.status == 507

    run(main)


def test_abandoned_uploads_expire_and_the_janitor_removes_them() -> None:
    async def main() -> None:
        app = app_with(resumable_ttl=60.0)
        janitor = build_partial_janitor(app.config, app.store, LoopClock())
        assert janitor is not None and janitor.interval == 15.0
        sweeping = asyncio.ensure_future(janitor.run())
        abandoned = await create(app)
        active = await create(app)
        await settle(40)
        assert (await exchange(app, patch(active, 0, b"abc"))).status == 204  # its clock starts again
        await settle(21)
        assert (await exchange(app, head(abandoned), head=True)).status == 404  # expired, maybe not yet swept
        assert (await exchange(app, head(active), head=True)).headers["upload-offset"] == "3"
        await settle(15)
        assert set(partials_of(app).partials) == {active}
        await settle(60)
        assert not partials_of(app).partials
        sweeping.cancel()

    run(main)


def test_a_store_without_partial_uploads_answers_404() -> None:
    async def main() -> None:
        app = App()
        reply = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 5\r\n\r\n")
        assert reply.status == 404
        assert build_partial_janitor(app.config, app.store, LoopClock()) is None

    run(main)


def test_the_janitor_sweeps_once_as_it_starts() -> None:
    async def main() -> None:
        app = app_with(resumable_ttl=3600.0)
        store = partials_of(app)
        await store.create_partial("id-7", 5, LoopClock().wall() - 1, {})  # expired while the service was down
        await store.create_partial("id-8", 5, LoopClock().wall() + 1, {})
        janitor = build_partial_janitor(app.config, store, LoopClock())
        assert janitor is not None
        sweeping = asyncio.ensure_future(janitor.run())
        await settle()
        assert set(store.partials) == {"id-8"}
        sweeping.cancel()

    run(main)


def test_creation_carries_expiry_and_download_limit_and_the_last_patch_the_delete_link() -> None:
    """What a web page needs from tus alone: the lifecycle headers of a plain
    upload on creation, and the delete link once, to the client that sent
    the last byte (a HEAD or GET of the upload never shows it)."""
    async def main() -> None:
        app = app_with(default_ttl=7 * 86400.0)
        bad = await exchange(app, b"POST /files/ HTTP/1.1\r\nHost: h\r\n" + TUS + b"Upload-Length: 3\r\n"
                             b"Expires-In: soon\r\nContent-Length: 0\r\n\r\n")
        assert bad.status == 400 and "Expires-In" in bad.json()["message"]
        upload_id = await create(app, 5, b"Expires-In: 2h\r\nMax-Downloads: 2\r\n")
        reply = await exchange(app, patch(upload_id, 0, b"hello"))
        assert reply.status == 204
        delete_link = reply.headers["upload-delete-link"]
        assert delete_link.startswith(f"http://h/delete/{upload_id}/")
        reply = await exchange(app, head(upload_id), head=True)
        assert "upload-delete-link" not in reply.headers
        finished = (await exchange(app, b"GET /files/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())).json()
        assert "linkfordelete" not in finished
        check = (await exchange(app, b"GET /check/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())).json()
        assert check["downloads_left"] == 2 and check["expires"] is not None
        record = await app.ledger.get(upload_id)
        assert record is not None and record.expires is not None
        assert record.expires - record.created == 2 * 3600
        assert record.client == "127.0.0.1"
        path = delete_link.removeprefix("http://h").encode()
        reply = await exchange(app, b"DELETE %s HTTP/1.1\r\nHost: h\r\n\r\n" % path)
        assert reply.status == 204
        gone = await exchange(app, b"GET /check/%s HTTP/1.1\r\nHost: h\r\n\r\n" % upload_id.encode())
        assert gone.status == 404

    run(main)
