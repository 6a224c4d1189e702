"""What shells and transfer.sh users expect, in-process (see tests/inproc.py):
JSON answers that end with a newline, ``PUT /<name>`` at the root, a plain
text answer on ``Accept: text/plain``, and named download URLs."""

from __future__ import annotations

from tests.inproc import App, Reply, run, settle


async def exchange(app: App, *requests: bytes, head_only: frozenset[int] = frozenset()) -> list[Reply]:
    pipe = app.connect()
    pipe.send(b"".join(requests))
    await settle()
    return pipe.replies(head_only)


def test_every_json_answer_ends_with_a_newline() -> None:
    async def main() -> None:
        app = App()
        replies = await exchange(
            app,
            b"PUT /upload/a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
            b"GET /check/id-1 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /check/id-9 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n",
            b"DELETE /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /download/id-1 HTTP/1.1\r\nHost: h\r\nRange: bytes=9-\r\n\r\n",
            b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-Bad : header\r\n\r\n",
        )
        assert [r.status for r in replies] == [201, 200, 404, 200, 404, 405, 416, 400, 400]
        for reply in replies:
            assert reply.headers["content-type"] == "application/json"
            assert reply.body.endswith(b"}\n") and reply.body.count(b"\n") == 1, reply
            reply.json()

    run(main)


def test_put_at_the_root_stores_a_file_of_that_name() -> None:
    async def main() -> None:
        app = App()
        root, upload, disposition = await exchange(
            app,
            b"PUT /hello%20world.txt HTTP/1.1\r\nHost: h:8000\r\nContent-Length: 5\r\n\r\nhello",
            b"PUT /upload/hello%20world.txt HTTP/1.1\r\nHost: h:8000\r\nContent-Length: 5\r\n\r\nhello",
            b"PUT /x.bin HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
            b'Content-Disposition: attachment; filename="y.bin"\r\n\r\n!',
        )
        assert root.status == upload.status == 201
        per_file = {"id": "", "linkforcheck": "", "linkfordownload": "", "linkfordownloadnamed": "",
                    "linkforshare": "", "linkfordelete": "", "deletetoken": ""}
        assert {**root.json(), **per_file} == {**upload.json(), **per_file}
        assert root.json()["fileisuploaded"] == "hello world.txt"
        assert root.headers["location"] == "http://h:8000/download/id-1"
        assert disposition.json()["fileisuploaded"] == "y.bin"  # Content-Disposition wins, as under /upload/
        assert app.store.blobs["id-1"][0] == b"hello"

    run(main)


def test_paths_the_service_owns_keep_their_meaning() -> None:
    async def main() -> None:
        app = App()
        replies = await exchange(
            app,
            b"PUT /check/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"PUT /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"PUT /check HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"PUT /download HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"PUT /a/b.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"GET /foo HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /foo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        )
        assert [(r.status, r.headers.get("allow")) for r in replies] == [
            (405, "GET, HEAD"), (405, "GET, HEAD"), (404, None), (404, None), (404, None), (404, None), (404, None)]
        assert not app.store.blobs

    run(main)


def test_accept_text_plain_gets_the_link_on_one_line() -> None:
    async def main() -> None:
        app = App()
        text, star, both, empty = await exchange(
            app,
            b"PUT /a.txt HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\nContent-Length: 2\r\n\r\nhi",
            b"PUT /b.txt HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 2\r\n\r\nhi",
            b"PUT /c.txt HTTP/1.1\r\nHost: h\r\nAccept: text/plain, application/json\r\nContent-Length: 2\r\n\r\nhi",
            b"PUT /d.txt HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\nContent-Length: 0\r\n\r\n",
        )
        # The download link, then (issue 14) the delete link, then (issue 16) the share page, one a line.
        download, delete, share, end = text.body.split(b"\n")
        assert text.status == 201 and download == b"http://h/download/id-1" and end == b""
        assert share == b"http://h/share/id-1"
        assert delete.startswith(b"http://h/delete/id-1/")
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.headers["x-content-type-options"] == "nosniff"
        assert text.headers["location"] == "http://h/download/id-1"
        assert star.json()["linkfordownload"] == "http://h/download/id-2"
        assert both.json()["linkfordownload"] == "http://h/download/id-3"
        # Errors stay JSON whatever the client accepts.
        assert empty.status == 400 and empty.headers["content-type"] == "application/json"
        assert empty.json()["status"] == 400

    run(main)


def test_named_download_urls_serve_the_same_bytes() -> None:
    async def main() -> None:
        app = App()
        pipe = app.connect()
        pipe.send(b"PUT /upload/r%C3%A9sum%C3%A9%20v2%3F.pdf HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                  b"0123456789")
        await settle()
        [created] = pipe.replies()
        answer = created.json()
        assert answer["fileisuploaded"] == "résumé v2?.pdf"
        assert answer["linkfordownload"] == "http://h/download/id-1"
        assert answer["linkfordownloadnamed"] == "http://h/download/id-1/r%C3%A9sum%C3%A9%20v2%3F.pdf"
        named = answer["linkfordownloadnamed"].removeprefix("http://h").encode()
        pipe.send(b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % named
                  + b"HEAD /download/id-1/anything/at/all HTTP/1.1\r\nHost: h\r\n\r\n"
                  + b"GET /download/id-1/x HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\n\r\n"
                  + b"GET /download/id-1 HTTP/1.1\r\nHost: h\r\n\r\n"
                  + b"GET /download/id-9/x.pdf HTTP/1.1\r\nHost: h\r\n\r\n"
                  + b"PUT /download/id-1/x.pdf HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        await settle()
        got, head, part, plain, missing, put = pipe.replies(head_only=frozenset({1}))
        assert got.status == 200 and got.body == b"0123456789"
        assert {**got.headers, "date": "", "x-request-id": ""} == {**plain.headers, "date": "", "x-request-id": ""}
        assert head.status == 200 and head.headers["content-length"] == "10"
        assert (part.status, part.body) == (206, b"234")
        assert missing.status == 404 and missing.json()["file"] == "id-9"
        assert put.status == 405 and put.headers["allow"] == "GET, HEAD"

    run(main)
