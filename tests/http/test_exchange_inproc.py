"""The HTTP service in-process: routes, keep-alive, pipelining, 100-continue
and refusals, on an in-memory store (see tests/inproc.py)."""

from __future__ import annotations

import hashlib

from config import Config
from tests.inproc import App, Pipe, run, settle

UPLOAD = (b"POST /upload/ HTTP/1.1\r\nHost: files.example:8000\r\nContent-Length: 5\r\n"
          b'Content-Disposition: attachment; filename="x.pdf"\r\n\r\nhello')


async def upload(app: App, pipe: Pipe | None = None, body: bytes = b"hello") -> str:
    pipe = pipe or app.connect()
    pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await settle()
    reply = pipe.replies()[-1]
    assert reply.status == 201, reply
    file_id: str = reply.json()["id"]
    return file_id


def test_upload_check_download_round_trip() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(UPLOAD)
        await settle()
        [created] = pipe.replies()
        assert created.status == 201
        body = created.json()
        assert body["fileisuploaded"] == "x.pdf"
        assert body["linkfordownload"] == "http://files.example:8000/download/id-1"
        assert body["linkforcheck"] == "http://files.example:8000/check/id-1"
        assert body["sha256"] == hashlib.sha256(b"hello").hexdigest()
        assert created.headers["location"] == body["linkfordownload"]
        assert created.body.endswith(b"}\n")  # shells print the next prompt on its own line

        pipe.send(b"GET /check/id-1 HTTP/1.1\r\nHost: h\r\n\r\nGET /download/id-1 HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        check, download = pipe.replies()
        assert check.status == 200 and check.json()["message"] == "is ready to download"
        assert check.json()["file"] == "x.pdf"
        assert download.status == 200 and download.body == b"hello"
        assert download.headers["content-type"] == "application/octet-stream"
        assert app.store.blobs["id-1"][0] == b"hello"

    run(main)


def test_unknown_ids_routes_and_methods() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(b"GET /check/id-9 HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"GET /download/nope HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"GET /elsewhere HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"DELETE /check/id-1 HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"GET /upload/ HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        missing, bad_id, no_route, delete, get_upload, health = pipe.replies()
        assert (missing.status, missing.json()) == (404, {"status": 404, "file": "id-9", "message": "is not found"})
        assert bad_id.status == 404 and bad_id.json()["file"] == "nope"
        assert no_route.status == 404
        assert delete.status == 405 and delete.headers["allow"] == "GET, HEAD"
        assert get_upload.status == 405 and get_upload.headers["allow"] == "POST, PUT"
        assert health.status == 200
        assert not pipe.closing  # none of these refusals left a body unread

    run(main)


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        first = await upload(app, pipe, b"one")
        second = await upload(app, pipe, b"two!")
        pipe.send(b"".join(b"GET /download/%s HTTP/1.1\r\nHost: h\r\n\r\n" % i.encode()
                           for i in (second, first, second)))
        await settle()
        assert [r.body for r in pipe.replies()] == [b"two!", b"one", b"two!"]
        assert not pipe.closing

    run(main)


def test_http_1_0_closes_unless_keep_alive_is_asked_for() -> None:
    async def main() -> None:
        app = App()
        plain = app.connect()
        plain.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        await settle()
        [reply] = plain.replies()
        assert reply.headers["connection"] == "close" and plain.closing
        kept = app.connect()
        kept.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        await settle()
        [reply] = kept.replies()
        assert reply.headers["connection"] == "keep-alive" and not kept.closing

    run(main)


def test_head_range_and_conditional_downloads() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        file_id = (await upload(app, pipe, b"0123456789")).encode()
        pipe.send(b"HEAD /download/%s HTTP/1.1\r\nHost: h\r\n\r\n" % file_id
                  + b"GET /download/%s HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\n\r\n" % file_id
                  + b"GET /download/%s HTTP/1.1\r\nHost: h\r\nRange: bytes=-3\r\n\r\n" % file_id
                  + b"GET /download/%s HTTP/1.1\r\nHost: h\r\nRange: bytes=10-\r\n\r\n" % file_id)
        await settle()
        head, middle, suffix, past = pipe.replies(head_only=frozenset({0}))
        assert head.status == 200 and head.headers["content-length"] == "10" and head.body == b""
        assert (middle.status, middle.body, middle.headers["content-range"]) == (206, b"234", "bytes 2-4/10")
        assert (suffix.status, suffix.body) == (206, b"789")
        assert past.status == 416 and past.headers["content-range"] == "bytes */10"
        etag = head.headers["etag"].encode()
        pipe.send(b"GET /download/%s HTTP/1.1\r\nHost: h\r\nIf-None-Match: %s\r\n\r\n" % (file_id, etag)
                  + b"GET /download/%s HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: \"old\"\r\n\r\n"
                  % file_id)
        await settle()
        not_modified, whole = pipe.replies()
        assert not_modified.status == 304 and not_modified.body == b""
        assert whole.status == 200 and whole.body == b"0123456789"

    run(main)


def test_expect_100_continue_only_when_the_body_will_be_read() -> None:
    async def main() -> None:
        app = App(Config(max_upload_size=10))
        pipe = app.connect()
        pipe.send(b"PUT /upload/a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        await settle()
        assert bytes(pipe.received) == b"HTTP/1.1 100 Continue\r\n\r\n"
        pipe.received.clear()
        pipe.send(b"abc")
        await settle()
        [created] = pipe.replies()
        assert created.status == 201 and created.json()["fileisuploaded"] == "a.txt"

        refused = app.connect()
        refused.send(b"PUT /upload/b HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        await settle()
        [too_large] = refused.replies()
        assert too_large.status == 413 and b"100 Continue" not in refused.received
        assert too_large.headers["connection"] == "close" and refused.eof_sent  # lingers, then closes
        assert len(app.store.blobs) == 1

    run(main)


def test_requests_the_parser_refuses() -> None:
    cases = [
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ]

    async def main() -> None:
        app = App()
        for request, status in cases:
            pipe = app.connect()
            pipe.send(request)
            await settle()
            [reply] = pipe.replies()
            assert reply.status == status, (request[:40], reply)
            assert reply.json()["status"] == status
            assert reply.headers["connection"] == "close" and pipe.eof_sent
        assert not app.store.blobs

    run(main)


def test_chunked_upload_and_upload_limits() -> None:
    async def main() -> None:
        app = App(Config(max_upload_size=8))
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")
        await settle()
        [created] = pipe.replies()
        assert created.status == 201 and created.json()["size"] == 5
        assert app.store.blobs["id-1"][0] == b"abcde"
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\n12345\r\n5\r\n67890\r\n")
        await settle()
        [too_large] = pipe.replies()
        assert too_large.status == 413 and pipe.eof_sent
        empty = app.connect()
        empty.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        await settle()
        empty.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\n\r\n")
        await settle()
        assert [r.status for r in empty.replies()] == [400, 411]
        assert list(app.store.blobs) == ["id-1"] and app.store.open_writers == 0

    run(main)
