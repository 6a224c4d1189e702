"""Every refusal of issue 5 on a raw socket against the real process: the
right status, a JSON error body, ``Connection: close``, and the connection
really closed (the framing is lost). Default limits: request line 8 KiB,
header section 64 KiB, 100 header fields."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Service
from tests.e2e.faults import data_files
from tests.e2e.wire import Wire, one_exchange

pytestmark = pytest.mark.e2e

GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
UPLOAD = b"POST /upload/ HTTP/1.1\r\nHost: x\r\n"
CHUNKED = UPLOAD + b"Transfer-Encoding: chunked\r\n\r\n"

REFUSALS: list[tuple[str, bytes, int]] = [
    ("request line too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("request line too long, never ended", b"GET /" + b"a" * 9000, 414),
    ("one header over 64 KiB", GET + b"X-Big: " + b"v" * (65 * 1024) + b"\r\n\r\n", 431),
    ("header section over 64 KiB in total",
     GET + b"".join(b"X-%02d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n", 431),
    ("header section over 64 KiB, never ended", GET + b"X-Big: " + b"v" * (70 * 1024), 431),
    ("too many header fields", GET + b"".join(b"X-%03d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
    ("HTTP/2.0", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("HTTP/0.9", b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    ("HTTP/3", b"GET /healthz HTTP/3\r\nHost: x\r\n\r\n", 505),
    ("HTTP/1.10 (one digit each)", b"GET /healthz HTTP/1.10\r\nHost: x\r\n\r\n", 400),
    ("HTTP/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("malformed request line", b"NOT HTTP AT ALL\r\n\r\n", 400),
    ("two spaces in the request line", b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("control character in the target", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("lower-case version", b"GET /healthz http/1.1\r\nHost: x\r\n\r\n", 400),
    ("missing Host in HTTP/1.1", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    ("two Host headers", GET + b"Host: y\r\n\r\n", 400),
    ("empty Host", b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ("Host with only a port", b"GET /healthz HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    ("Host with a malformed IP literal", b"GET /healthz HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400),
    ("Host with userinfo", b"GET /healthz HTTP/1.1\r\nHost: u@x\r\n\r\n", 400),
    ("Host with a port out of range", b"GET /healthz HTTP/1.1\r\nHost: x:65536\r\n\r\n", 400),
    ("absolute-form target with an empty host", b"GET http:///healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("obs-fold", GET + b"X-A: one\r\n two\r\n\r\n", 400),
    ("obs-fold with a tab", GET + b"X-A: one\r\n\ttwo\r\n\r\n", 400),
    ("space before the colon", GET + b"X-A : v\r\n\r\n", 400),
    ("header without a colon", GET + b"NoColon\r\n\r\n", 400),
    ("NUL in a header value", GET + b"X-A: a\x00b\r\n\r\n", 400),
    ("bare CR in a header value", GET + b"X-A: a\rb\r\n\r\n", 400),
    ("Content-Length not a number", UPLOAD + b"Content-Length: abc\r\n\r\n", 400),
    ("Content-Length negative", UPLOAD + b"Content-Length: -1\r\n\r\n", 400),
    ("Content-Length with a sign", UPLOAD + b"Content-Length: +5\r\n\r\n", 400),
    ("Content-Length hexadecimal", UPLOAD + b"Content-Length: 0x10\r\n\r\n", 400),
    ("Content-Length empty", UPLOAD + b"Content-Length: \r\n\r\n", 400),
    ("Content-Length fractional", UPLOAD + b"Content-Length: 1.5\r\n\r\n", 400),
    ("Content-Length two different values", UPLOAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    ("Content-Length list of different values", UPLOAD + b"Content-Length: 5, 6\r\n\r\nhello", 400),
    ("Content-Length twice, the same", UPLOAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("Content-Length list of the same value", UPLOAD + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("unknown expectation", UPLOAD + b"Content-Length: 5\r\nExpect: 200-ok\r\n\r\nhello", 417),
    ("Content-Length and Transfer-Encoding",
     UPLOAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding and Content-Length",
     UPLOAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("unknown transfer coding", UPLOAD + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("chunked not last", UPLOAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("chunked twice", UPLOAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0",
     b"POST /upload/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("Content-Range in an upload (RFC 9110 14.4)",
     UPLOAD + b"Content-Range: bytes 1000-1004/2000\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("chunk size not hexadecimal", CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size negative", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size empty", CHUNKED + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size overflowing 64 bits", CHUNKED + b"1" * 17 + b"\r\n", 400),
    ("chunk data without its CRLF", CHUNKED + b"5\r\nhelloXX0\r\n\r\n", 400),
    ("bad chunk after good ones", CHUNKED + b"5\r\nhello\r\n5\r\nworld\r\nq\r\n", 400),
    ("bare LF after a chunk size", CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400),
    ("bare LF after chunk data", CHUNKED + b"5\r\nhello\n0\r\n\r\n", 400),
    ("bare LF ending the trailers", CHUNKED + b"5\r\nhello\r\n0\r\n\n", 400),
    ("control byte in a chunk extension", CHUNKED + b"5;a=\x01\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk extension without a name", CHUNKED + b"5;=x\r\nhello\r\n0\r\n\r\n", 400),
]


@pytest.mark.parametrize("request_bytes, status", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_each_refusal_is_json_with_the_right_status_and_closes(
        service: Service, request_bytes: bytes, status: int) -> None:
    reply, closed = one_exchange(service.host, service.port, request_bytes)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["status"] == status and reply.json()["message"]
    assert reply.headers["connection"] == "close"
    assert closed, "the server kept the connection open after losing the framing"


def test_refused_uploads_store_nothing_and_the_service_keeps_serving(service: Service) -> None:
    for _, request_bytes, _ in REFUSALS:
        if request_bytes.startswith(UPLOAD):
            one_exchange(service.host, service.port, request_bytes)
    assert data_files(service.storage) == []
    reply, _ = one_exchange(service.host, service.port, GET + b"Connection: close\r\n\r\n")
    assert reply.status == 200


def test_a_refused_head_is_answered_even_while_the_client_keeps_sending(service: Service) -> None:
    """The server answers 431 after 64 KiB and must not reset the
    connection under a client still pushing its head, which would destroy
    the answer (the service lingers, discarding, until the client stops)."""
    with Wire(service.host, service.port) as wire:
        wire.send(GET + b"X-Big: ")
        sent = 0
        try:
            while sent < 4 << 20:
                wire.send(b"v" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert wire.reply().status == 431
        assert wire.closed_by_server()


def test_bare_lf_line_endings_are_accepted(service: Service) -> None:
    reply, _ = one_exchange(service.host, service.port, b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n")
    assert reply.status == 200


def test_http_1_x_with_a_higher_minor_is_served_as_1_1(service: Service) -> None:
    reply, closed = one_exchange(service.host, service.port,
                                 b"GET /healthz HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.status == 200 and closed


def test_a_partial_put_is_refused_before_its_body_and_stores_nothing(service: Service) -> None:
    """``curl -C 1000 -T`` sends the rest of a file with Content-Range; a
    server that ignores it stores a truncated file as if it were whole. The
    400 comes before the body is read (no 100 Continue), and closes."""
    with Wire(service.host, service.port) as wire:
        wire.send(b"PUT /upload/big.bin HTTP/1.1\r\nHost: x\r\nContent-Range: bytes 1000-1999/2000\r\n"
                  b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
        refused = wire.reply()
        assert refused.status == 400 and refused.headers["connection"] == "close"
        assert "Content-Range" in str(refused.json()["message"])
        wire.send(b"x" * 1000)
        assert wire.closed_by_server()
    assert data_files(service.storage) == []
