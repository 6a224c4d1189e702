"""Hypothesis strategies for byte streams a client might send: mostly pieces of
real HTTP/1.1 (so the parser gets past the request line and into bodies,
chunking and pipelining), mixed with arbitrary bytes."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.parser_target import NO_LIMIT

FRAGMENTS = [
    b"GET / HTTP/1.1\r\n", b"POST /upload/ HTTP/1.1\r\n", b"PUT /upload/a%20b HTTP/1.1\r\n",
    b"HEAD /download/abc HTTP/1.0\r\n", b"OPTIONS * HTTP/1.1\r\n", b"GET http://h/x?y HTTP/1.1\r\n",
    b"GET / HTTP/2.0\r\n", b"GET /x HTTP/1.1\n", b"GET", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0",
    b"Host: x\r\n", b"Host: [::1]:80\r\n", b"Host:\r\n", b"Content-Length: 0\r\n", b"Content-Length: 5\r\n",
    b"Content-Length: 5, 5\r\n", b"Content-Length: 99999999999999999999\r\n", b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip, chunked\r\n", b"Expect: 100-continue\r\n",
    b"Connection: close\r\n", b"Connection: keep-alive\r\n", b" folded\r\n", b"X: \x00\r\n",
    b"\r\n", b"\n", b"\r", b":", b";", b"hello", b"5\r\nhello\r\n", b"5;ext=1\r\nhello\r\n",
    b"0\r\n\r\n", b"0\r\nTrailer: t\r\n\r\n", b"ffffffffffffffffff\r\n", b"1\r\nx\n", b"\r\n\r\n",
    b"5 ; a = \"q\\\"\" ;b\r\nhello\r\n", b";x=\x01", b"Expect: foo\r\n", b"HTTP/1.10", b"Host: [::1\r\n",
    b"GET http://a:1/x HTTP/1.1\r\n", b"Host: :80\r\n",
]


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=12), max_size=24))
    return b"".join(parts)


cut_lists = st.lists(st.integers(min_value=0, max_value=600), max_size=8)
max_datas = st.integers(min_value=1, max_value=64) | st.just(NO_LIMIT)
