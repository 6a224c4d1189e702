"""The S3 endpoint's connection handling, against a tiny local HTTP server
that counts connections: keep-alive reuse, the retry on a connection the
server closed while idle, caps on answers, virtual-host naming."""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from adapters.s3.endpoint import Endpoint, S3Settings, TooLarge


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.seen.append((self.path, self.headers.get("Host", ""), self.headers.get("Authorization", "")))
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after:
            self.close_connection = True  # closed silently: no "Connection: close" to warn the client

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.puts.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    close_after = False
    body = b"hello"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str, str]] = []
        self.puts: list[tuple[str, dict[str, str], bytes]] = []


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def endpoint(server: Server, **overrides: object) -> Endpoint:
    fields: dict[str, object] = dict(endpoint=f"http://127.0.0.1:{server.server_address[1]}", bucket="bkt",
                                     access_key="AK", secret_key="SK", timeout=5.0)
    fields.update(overrides)
    return Endpoint(S3Settings(**fields), pool_size=2)  # type: ignore[arg-type]


def test_requests_reuse_one_keep_alive_connection(server: Server) -> None:
    client = endpoint(server)
    for _ in range(5):
        assert client.request("GET", "a key/\u00fc").body == b"hello"
    assert server.connections == 1
    assert server.seen[0][0] == "/bkt/a%20key/%C3%BC" and server.seen[0][1].startswith("127.0.0.1:")
    assert server.seen[0][2].startswith("AWS4-HMAC-SHA256 Credential=AK/")
    client.close()


def test_a_connection_closed_while_idle_is_replaced_once(server: Server) -> None:
    server.close_after = True
    client = endpoint(server)
    for _ in range(3):
        assert client.request("GET", "k").body == b"hello"
    assert server.connections == 3 and len(server.seen) == 3
    client.close()


def test_a_stream_read_to_its_end_gives_its_connection_back(server: Server) -> None:
    client = endpoint(server)
    stream = client.stream("GET", "k")
    assert stream.read(3) == b"hel" and stream.read(10) == b"lo" and stream.read(10) == b""
    stream.close()
    half = client.stream("GET", "k")
    assert half.read(1) == b"h"
    half.close()  # not read to the end: this connection is dropped
    client.request("GET", "k")
    assert server.connections == 2
    client.close()


def test_answers_are_capped(server: Server) -> None:
    server.body = b"x" * 1000
    client = endpoint(server)
    with pytest.raises(TooLarge):
        client.request("GET", "k", limit=999)
    assert client.request("GET", "k", limit=1000).body == server.body
    client.close()


def test_virtual_host_addressing_names_the_bucket_in_the_host(server: Server) -> None:
    port = server.server_address[1]
    client = endpoint(server, addressing="virtual", endpoint=f"http://localhost:{port}")
    client.request("GET", "k")
    client.request("GET", "", [("list-type", "2"), ("prefix", "a b")])
    assert [(path, host) for path, host, _ in server.seen] == [
        ("/k", f"bkt.localhost:{port}"), ("/?list-type=2&prefix=a%20b", f"bkt.localhost:{port}")]
    client.close()


def test_settings_refuse_bad_values_and_hide_the_secret() -> None:
    for bad in [dict(endpoint="ftp://h"), dict(endpoint="http://h/x"), dict(addressing="dns"), dict(bucket="")]:
        with pytest.raises(ValueError):
            S3Settings(**{"endpoint": "http://h", "bucket": "b", **bad})  # type: ignore[arg-type]
    settings = S3Settings.from_env("http://h", "b", {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SECRET",
                                                     "AWS_SESSION_TOKEN": "TOK"})
    assert (settings.region, settings.session_token) == ("us-east-1", "TOK") and "SECRET" not in repr(settings)
    with pytest.raises(ValueError):
        S3Settings.from_env("http://h", "b", {"AWS_ACCESS_KEY_ID": "AK"})


def test_bodies_are_signed_and_whole_objects_carry_their_checksum(server: Server) -> None:
    client = endpoint(server)
    body = b"some bytes"
    client.request("PUT", "obj", body=body)
    client.request("PUT", "obj", [("partNumber", "1"), ("uploadId", "u")], body=body)
    (_, whole, sent), (_, part, _) = server.puts
    assert sent == body and whole["x-amz-content-sha256"] == part["x-amz-content-sha256"] == \
        hashlib.sha256(body).hexdigest()
    assert whole["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert "x-amz-checksum-sha256" not in part and "x-amz-content-sha256" in whole["Authorization"]
    client.close()
