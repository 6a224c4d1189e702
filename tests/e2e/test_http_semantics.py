"""HTTP/1.1 semantics on the wire: HEAD wherever GET works (same headers, no
body, framing intact on keep-alive), ranges and conditional requests,
Connection: close both ways, HTTP/1.0 framing, Expect: 100-continue,
chunked uploads with trailers, and half-closed clients."""

from __future__ import annotations

import hashlib
import os
import socket
from email.utils import parsedate_to_datetime

import pytest

from tests.e2e.conftest import Service, ServiceFactory
from tests.e2e.wire import Reply, Wire, one_exchange

pytestmark = pytest.mark.e2e

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def stored(service: Service) -> tuple[Service, str, str]:
    body = service.upload(DATA, "s.bin")
    return service, str(body["id"]), f'"{body["sha256"]}"'


def get(wire: Wire, method: str, target: str, *headers: str) -> Reply:
    extra = "".join(h + "\r\n" for h in headers)
    wire.send(f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    return wire.reply(head_only=method == "HEAD")


def fetch(service: Service, target: str, *headers: str) -> Reply:
    """GET on a fresh connection, which the server then closes."""
    extra = "".join(h + "\r\n" for h in headers)
    reply, closed = one_exchange(service.host, service.port,
                                 f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
    assert closed
    return reply


def without_date(reply: Reply) -> dict[str, str]:
    """The headers but those that differ between any two answers (the date, the request id)."""
    return {k: v for k, v in reply.headers.items() if k not in ("date", "x-request-id")}


@pytest.mark.parametrize("target, headers, status", [
    ("/healthz", (), 200),
    ("/check/{id}", (), 200),
    ("/check/aaaaaaaaaaaaaaaaaaaaaaaaaa", (), 404),
    ("/download/{id}", (), 200),
    ("/download/{id}", ("Range: bytes=10-19",), 206),
    ("/download/{id}", ("Range: bytes=99999-",), 416),
    ("/download/{id}", ("If-None-Match: {etag}",), 304),
    ("/download/aaaaaaaaaaaaaaaaaaaaaaaaaa", (), 404),
    ("/nothing", (), 404),
])
def test_head_answers_like_get_without_a_body(
        stored: tuple[Service, str, str], target: str, headers: tuple[str, ...], status: int) -> None:
    service, file_id, etag = stored
    target = target.format(id=file_id)
    headers = tuple(h.format(etag=etag) for h in headers)
    with Wire(service.host, service.port) as wire:  # one connection: a stray body byte would break the next reply
        head = get(wire, "HEAD", target, *headers)
        full = get(wire, "GET", target, *headers)
        again = get(wire, "HEAD", target, *headers)
    assert head.status == full.status == again.status == status
    assert head.body == b"" and without_date(head) == without_date(full)
    if status == 304:
        assert "content-length" not in head.headers and full.body == b""
    else:
        assert int(head.headers["content-length"]) == len(full.body) > 0


@pytest.mark.parametrize("spec, start, end", [
    ("bytes=0-0", 0, 1),
    ("bytes=100-199", 100, 200),
    ("bytes=10000-", 10000, 10240),
    ("bytes=10000-999999", 10000, 10240),
    ("bytes=-1", 10239, 10240),
    ("bytes=-100000", 0, 10240),
    ("BYTES = 5 - 9", 5, 10),
    ("bytes=10-" + "9" * 5000, 10, 10240),  # thousands of digits: past the end, not a 500
    ("bytes=-" + "9" * 5000, 0, 10240),
])
def test_single_ranges_give_206_with_content_range(
        stored: tuple[Service, str, str], spec: str, start: int, end: int) -> None:
    service, file_id, _ = stored
    reply = fetch(service, f"/download/{file_id}", f"Range: {spec}")
    if (start, end) == (0, len(DATA)):
        assert reply.status == 200  # a range covering everything is the whole file
    else:
        assert reply.status == 206
        assert reply.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert reply.body == DATA[start:end] and reply.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize("spec", ["bytes=10240-", "bytes=20000-30000", "bytes=-0", "bytes=" + "9" * 5000 + "-"])
def test_unsatisfiable_ranges_give_416_with_the_size(stored: tuple[Service, str, str], spec: str) -> None:
    service, file_id, _ = stored
    reply = fetch(service, f"/download/{file_id}", f"Range: {spec}")
    assert reply.status == 416 and reply.headers["content-range"] == f"bytes */{len(DATA)}"
    assert reply.json()["status"] == 416


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-5", "bytes=9-2", "bytes=x-y", "bytes"])
def test_multiple_or_invalid_ranges_get_the_whole_file(stored: tuple[Service, str, str], spec: str) -> None:
    service, file_id, _ = stored
    reply = fetch(service, f"/download/{file_id}", f"Range: {spec}")
    assert reply.status == 200 and reply.body == DATA and "content-range" not in reply.headers


def test_conditional_requests(stored: tuple[Service, str, str]) -> None:
    service, file_id, etag = stored
    target = f"/download/{file_id}"
    with Wire(service.host, service.port) as wire:
        last_modified = get(wire, "GET", target).headers["last-modified"]
        assert parsedate_to_datetime(last_modified).tzinfo is not None
        for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            not_modified = get(wire, "GET", target, f"If-None-Match: {value}")
            assert not_modified.status == 304 and not_modified.body == b"", value
            assert not_modified.headers["etag"] == etag
        assert get(wire, "GET", target, 'If-None-Match: "other"').status == 200
        for if_range, status in ((etag, 206), (last_modified, 206), ('"stale"', 200), (f"W/{etag}", 200),
                                 ("Mon, 01 Jan 2001 00:00:00 GMT", 200)):
            reply = get(wire, "GET", target, "Range: bytes=0-9", f"If-Range: {if_range}")
            assert reply.status == status, if_range
            assert reply.body == (DATA[:10] if status == 206 else DATA)


def test_http_1_1_keeps_the_connection_and_connection_close_is_honoured(service: Service) -> None:
    with Wire(service.host, service.port) as wire:
        first = get(wire, "GET", "/healthz")
        assert first.status == 200 and "connection" not in first.headers  # persistent by default
        # A request with Connection: close, then one more the server must ignore.
        wire.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        last = wire.reply()
        assert last.status == 200 and last.headers["connection"] == "close"
        assert wire.closed_by_server(), "a second response or an open connection after Connection: close"


def test_refusals_that_leave_the_framing_intact_keep_the_connection(stored: tuple[Service, str, str]) -> None:
    """The README's rule: only a refusal after which the connection's bytes
    cannot be trusted (an unparsable request, an unread body) closes it."""
    service, file_id, _ = stored
    with Wire(service.host, service.port) as wire:
        for method, target, headers, status in (
                ("GET", "/nothing", (), 404),
                ("GET", "/check/aaaaaaaaaaaaaaaaaaaaaaaaaa", (), 404),
                ("DELETE", f"/check/{file_id}", (), 405),
                ("GET", f"/download/{file_id}", ("Range: bytes=99999-",), 416),
                ("POST", "/upload/", (), 411),
                ("POST", "/upload/", ("Content-Length: 0",), 400)):
            reply = get(wire, method, target, *headers)
            assert reply.status == status and "connection" not in reply.headers, (method, target)
        assert get(wire, "GET", "/healthz").status == 200


def test_the_server_announces_its_own_close(make_service: ServiceFactory) -> None:
    service = make_service("--max-upload-size", "1K")
    with Wire(service.host, service.port) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        refused = wire.reply()
        assert refused.status == 413 and refused.headers["connection"] == "close"
        assert wire.closed_by_server()


def test_http_1_0_framing(stored: tuple[Service, str, str]) -> None:
    service, file_id, _ = stored
    reply, closed = one_exchange(service.host, service.port, f"GET /download/{file_id} HTTP/1.0\r\n\r\n".encode())
    assert reply.status == 200 and reply.body == DATA and reply.headers["connection"] == "close" and closed
    assert "transfer-encoding" not in reply.headers
    with Wire(service.host, service.port) as wire:
        wire.send(f"HEAD /download/{file_id} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
        head = wire.reply(head_only=True)
        assert head.status == 200 and head.headers["connection"] == "keep-alive"
        assert head.headers["content-length"] == str(len(DATA))
        wire.send(b"POST /upload/ HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello")
        upload = wire.reply()
        assert upload.status == 201 and upload.json()["size"] == 5
        wire.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert wire.reply().headers["connection"] == "close"
        assert wire.closed_by_server()


def test_expect_100_continue_is_sent_only_when_the_upload_will_be_read(make_service: ServiceFactory) -> None:
    service = make_service("--max-upload-size", "1K")
    with Wire(service.host, service.port) as wire:
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert wire.reply().status == 100  # sent before the body, which the client is holding back
        wire.send(b"hello")
        created = wire.reply()
        assert created.status == 201 and created.json()["size"] == 5
    refusals = [
        (b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", 413),
        (b"POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 404),
        (b"POST /check/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 405),
    ]
    for request, status in refusals:
        reply, closed = one_exchange(service.host, service.port, request)
        assert reply.status == status, request  # the first answer is final: no 100 before it
        assert closed  # the body was never read and cannot be skipped: close
    with Wire(service.host, service.port) as wire:  # an empty body: nothing unread, the connection stays
        wire.send(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
        assert wire.reply().status == 400
        assert get(wire, "GET", "/healthz").status == 200


def test_chunked_upload_with_extensions_and_trailers(service: Service) -> None:
    data = os.urandom(70_000)
    chunks = b"".join(b"%x;note=x\r\n%s\r\n" % (len(part), part) for part in (data[:1], data[1:65536], data[65536:]))
    request = (b"POST /upload/c.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
               + chunks + b"0\r\nX-Sum: ignored\r\n\r\n")
    with Wire(service.host, service.port) as wire:
        wire.send(request)
        created = wire.reply()
        assert created.status == 201 and created.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert get(wire, "GET", "/healthz").status == 200  # the framing survived the trailers


def test_a_half_closed_client_still_gets_its_whole_answer(stored: tuple[Service, str, str]) -> None:
    service, file_id, _ = stored
    with Wire(service.host, service.port) as wire:
        wire.send(f"GET /download/{file_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wire.sock.shutdown(socket.SHUT_WR)
        reply = wire.reply()
        assert reply.status == 200 and reply.body == DATA
        assert wire.closed_by_server()


def test_pipelined_upload_then_check_in_one_write(service: Service) -> None:
    with Wire(service.host, service.port) as wire:
        wire.send(b"PUT /upload/p.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wire.reply().status == 201
        assert wire.reply().status == 200


def test_an_absolute_form_target_names_the_host_of_the_links(service: Service) -> None:
    """RFC 9112 3.2.2: the authority in an absolute-form target wins over
    the Host header, so the links are built on it."""
    reply, _ = one_exchange(service.host, service.port,
                            b"POST http://a.example:8080/upload/abs.txt HTTP/1.1\r\nHost: b.example\r\n"
                            b"Content-Length: 3\r\nConnection: close\r\n\r\nabc")
    assert reply.status == 201, reply.body
    created = reply.json()
    assert created["linkfordownload"] == f"http://a.example:8080/download/{created['id']}"
    assert created["linkforcheck"] == f"http://a.example:8080/check/{created['id']}"
    assert reply.headers["location"] == created["linkfordownload"]


@pytest.mark.parametrize("head, body, status", [
    pytest.param(b"POST /upload/n.txt HTTP/1.1\r\nContent-Length: 2", b"hi", 201,
                 id="201 upload"),
    pytest.param(b"GET /check/{id} HTTP/1.1", b"", 200, id="200 check"),
    pytest.param(b"GET /healthz HTTP/1.1", b"", 200, id="200 healthz"),
    pytest.param(b"GET /check/<script>alert(1)</script> HTTP/1.1", b"", 404,
                 id="404 echoing the id"),
    pytest.param(b"GET /nothing HTTP/1.1", b"", 404, id="404"),
    pytest.param(b"DELETE /check/{id} HTTP/1.1", b"", 405, id="405"),
    pytest.param(b"GET /download/{id} HTTP/1.1\r\nRange: bytes=99999-", b"", 416,
                 id="416"),
    pytest.param(b"GET / HTTP/1.1\r\nX-Bad : header", b"", 400, id="400 parse refusal"),
])
def test_every_json_answer_says_nosniff(
        stored: tuple[Service, str, str], head: bytes, body: bytes, status: int) -> None:
    service, file_id, _ = stored
    request = head.replace(b"{id}", file_id.encode()) + b"\r\nHost: x\r\nConnection: close\r\n\r\n" + body
    reply, _ = one_exchange(service.host, service.port, request)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers.get("x-content-type-options") == "nosniff"


def test_the_connection_cap_refusal_says_nosniff(make_service: ServiceFactory) -> None:
    service = make_service("--max-connections", "1")
    with Wire(service.host, service.port) as held:
        held.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.reply().status == 200  # the one connection allowed is now open and counted
        reply, _ = one_exchange(service.host, service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.status == 503 and reply.headers.get("x-content-type-options") == "nosniff"
