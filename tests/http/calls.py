"""One request per connection against an in-process ``App``, and the checks
the lifecycle tests share."""

from __future__ import annotations

from typing import Any

from tests.inproc import App, Reply, settle

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
