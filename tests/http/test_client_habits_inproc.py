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
