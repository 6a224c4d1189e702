"""The server's half of HTTP/1.1 framing, on bytes: heads, keep-alive
decisions and 100-continue, without a connection."""

from __future__ import annotations

from adapters.http.framing import ServerFraming
from adapters.http.parser import Request, RequestParser


def request(raw: bytes) -> Request:
    parser = RequestParser()
    parser.feed(raw)
    event = parser.next_event()
    assert isinstance(event, Request)
    return event


def head_lines(head: bytes) -> list[str]:
    return [line for line in head.decode().split("\r\n")[1:] if line and not line.startswith(("Date:", "Server:"))]


def test_keep_alive_by_default_in_1_1_with_content_length() -> None:
    framing = ServerFraming()
    get = request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    framing.begin(get)
    head, body = framing.head(get, 200, [("Content-Type", "text/plain")], 5, body_done=True)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head_lines(head) == ["Content-Type: text/plain", "Content-Length: 5"]
    assert body == 5
    assert framing.end(body_done=True, response_done=True)


def test_http_1_0_keep_alive_is_announced_and_close_otherwise() -> None:
    framing = ServerFraming()
    kept = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    framing.begin(kept)
    head, _ = framing.head(kept, 200, [], 0, body_done=True)
    assert "Connection: keep-alive" in head_lines(head)
    closing = request(b"GET / HTTP/1.0\r\n\r\n")
    framing.begin(closing)
    head, _ = framing.head(closing, 200, [], 0, body_done=True)
    assert "Connection: close" in head_lines(head) and not framing.end(True, True)


def test_no_body_follows_head_204_and_304_and_304_has_no_length() -> None:
    framing = ServerFraming()
    head_request = request(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
    framing.begin(head_request)
    head, body = framing.head(head_request, 200, [], 1000, body_done=True)
    assert "Content-Length: 1000" in head_lines(head) and body == 0
    get = request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    head, body = framing.head(get, 304, [("ETag", '"a"')], 0, body_done=True)
    assert head_lines(head) == ['ETag: "a"'] and body == 0
    _, body = framing.head(get, 204, [], 0, body_done=True)
    assert body == 0


def test_an_unread_body_closes_the_connection() -> None:
    framing = ServerFraming()
    upload = request(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
    framing.begin(upload)
    head, _ = framing.head(upload, 413, [], 0, body_done=False)
    assert "Connection: close" in head_lines(head)
    assert not framing.end(body_done=False, response_done=True)


def test_a_response_cut_short_closes_the_connection() -> None:
    framing = ServerFraming()
    get = request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    framing.begin(get)
    framing.head(get, 200, [], 10, body_done=True)
    assert not framing.end(body_done=True, response_done=False)


def test_100_continue_once_and_never_after_an_answer_started() -> None:
    framing = ServerFraming()
    upload = request(b"PUT /upload/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    framing.begin(upload)
    assert framing.interim(upload, response_started=True) == b""
    assert framing.interim(upload, response_started=False) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert framing.interim(upload, response_started=False) == b""
    framing.begin(upload)  # the next request may wait for its own
    assert framing.interim(upload, response_started=False).startswith(b"HTTP/1.1 100")
    plain = request(b"PUT /upload/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n")
    assert framing.interim(plain, response_started=False) == b""


def test_shutting_down_closes_after_the_current_exchange() -> None:
    framing = ServerFraming()
    get = request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    framing.begin(get)
    framing.shut_down()
    head, _ = framing.head(get, 200, [], 0, body_done=True)
    assert "Connection: close" in head_lines(head)
    framing.begin(get)
    assert not framing.keep_alive


def test_a_refusal_is_a_whole_json_answer_that_closes() -> None:
    framing = ServerFraming()
    answer = framing.refusal(431, "request header section is too large")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Connection: close" in head and b"X-Content-Type-Options: nosniff" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body.startswith(b'{"status": 431') and not framing.keep_alive
