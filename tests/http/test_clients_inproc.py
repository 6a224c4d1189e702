"""Clients and abuse control in-process, in virtual time (see tests/inproc.py):
trusted proxies and forwarded headers, requests per minute (429), connections
per address (503), per-client speed limits, upload tokens (401)."""

from __future__ import annotations

import asyncio
import io

from adapters.http.access_log import AccessLog
from config import Config
from tests.inproc import App, Pipe, Reply, run, settle

CLIENT = ("192.0.2.10", 50000)
PROXY = ("10.0.0.1", 40000)
METADATA = {"name": "f.bin", "content_type": "application/octet-stream", "sha256": "0" * 64,
            "created": "2026-01-01T00:00:00Z"}


async def ask(pipe: Pipe, *requests: bytes) -> list[Reply]:
    for request in requests:
        pipe.send(request)
    await settle()
    return pipe.replies()


def get(path: str, *headers: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: h\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()


def upload(*headers: str, body: bytes = b"hello", method: str = "POST", path: str = "/upload/f.txt") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: files.example\r\nContent-Length: {len(body)}\r\n"
    return (head + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode() + body


SPOOF = ("X-Forwarded-For: 203.0.113.99", "X-Forwarded-Proto: https", "X-Forwarded-Host: evil.example",
         "Forwarded: for=203.0.113.99;proto=https;host=evil.example")


# -- who the client is ----------------------------------------------------------------------------


def test_forwarded_headers_from_an_untrusted_peer_change_nothing() -> None:
    async def main() -> None:
        app = App(Config(requests_per_minute=2, trusted_proxy=("10.0.0.0/8",)))
        log = app.server.access_log = AccessLog(io.StringIO())
        log.enabled = True
        pipe = app.connect(peer=CLIENT)
        [created] = await ask(pipe, upload(*SPOOF))
        assert created.status == 201
        assert created.json()["linkfordownload"] == "http://files.example/download/id-1"
        # A new X-Forwarded-For on every request is no new client: the third is refused.
        replies = await ask(pipe, get("/check/id-1", "X-Forwarded-For: 203.0.113.1"),
                            get("/check/id-1", "X-Forwarded-For: 203.0.113.2"))
        assert [r.status for r in replies] == [200, 429]
        log.flush()
        lines = log._stream.getvalue().splitlines()  # type: ignore[union-attr]
        assert all(" 192.0.2.10:50000 " in line and "via" not in line for line in lines), lines

    run(main)


def test_a_trusted_proxy_names_the_client_and_the_links() -> None:
    async def main() -> None:
        app = App(Config(requests_per_minute=1, trusted_proxy=("10.0.0.0/8",)))
        log = app.server.access_log = AccessLog(io.StringIO())
        log.enabled = True
        pipe = app.connect(peer=PROXY)
        [created] = await ask(pipe, upload("X-Forwarded-For: 6.6.6.6, 198.51.100.7",
                                           "X-Forwarded-Proto: https", "X-Forwarded-Host: files.example.com"))
        assert created.status == 201
        body = created.json()
        assert body["linkfordownload"] == "https://files.example.com/download/id-1"
        assert body["linkforcheck"] == "https://files.example.com/check/id-1"
        assert created.headers["location"] == body["linkfordownload"]
        # One proxy connection, several clients: each has its own budget (one request a minute).
        replies = await ask(pipe, get("/check/id-1", "X-Forwarded-For: 198.51.100.7"),
                            get("/check/id-1", "X-Forwarded-For: 198.51.100.8"),
                            get("/check/id-1", "X-Forwarded-For: 1.1.1.1, 198.51.100.8"))
        assert [r.status for r in replies] == [429, 200, 429]
        log.flush()
        lines = log._stream.getvalue().splitlines()  # type: ignore[union-attr]
        assert " 198.51.100.7 \"POST /upload/f.txt HTTP/1.1\" 201 " in lines[0], lines[0]
        assert lines[0].endswith(" via 10.0.0.1:40000"), lines[0]
        # --public-url still wins over what a proxy says.
        app = App(Config(trusted_proxy=("10.0.0.0/8",), public_url="https://dl.example.org"))
        [created] = await ask(app.connect(peer=PROXY), upload("X-Forwarded-Host: files.example.com"))
        assert created.json()["linkfordownload"] == "https://dl.example.org/download/id-1"

    run(main)


def test_rfc_7239_forwarded_when_asked_for() -> None:
    async def main() -> None:
        app = App(Config(trusted_proxy=("10.0.0.1",), proxy_headers="forwarded"))
        [created] = await ask(app.connect(peer=PROXY), upload(
            'Forwarded: for=198.51.100.7;proto=https;host="files.example.com:8443"',
            "X-Forwarded-Proto: http", "X-Forwarded-Host: evil.example"))
        assert created.json()["linkfordownload"] == "https://files.example.com:8443/download/id-1"

    run(main)


# -- requests per minute --------------------------------------------------------------------------


def test_requests_per_minute_429_with_retry_after_and_health_checks_never_count() -> None:
    async def main() -> None:
        app = App(Config(requests_per_minute=3))
        await app.put("id-1", b"x", METADATA)
        pipe = app.connect(peer=CLIENT)
        replies = await ask(pipe, *[get("/check/id-1")] * 3, get("/healthz"), get("/check/id-1"))
        assert [r.status for r in replies] == [200, 200, 200, 200, 429]
        refused = replies[-1]
        assert refused.headers["retry-after"] == "20"  # one request every 60/3 s
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"status": 429, "message": "too many requests; retry in 20 s"}
        assert [r.status for r in await ask(pipe, *[get("/healthz")] * 10)] == [200] * 10
        assert not pipe.closing  # a 429 to a request without a body keeps the connection
        # Refused requests cost nothing: 20 s after the third, one more may go (the
        # budget is the address's, whatever connection it uses).
        await settle(19.5)
        assert [r.status for r in await ask(app.connect(peer=CLIENT), get("/check/id-1"))] == [429]
        await settle(0.5)
        assert [r.status for r in await ask(app.connect(peer=CLIENT), get("/check/id-1"))] == [200]
        # Another address has its own budget.
        assert [r.status for r in await ask(app.connect(peer=("192.0.2.11", 1)), get("/check/id-1"))] == [200]

    run(main)


def test_a_refused_upload_is_not_read_and_stores_nothing() -> None:
    async def main() -> None:
        app = App(Config(requests_per_minute=1))
        pipe = app.connect(peer=CLIENT)
        assert [r.status for r in await ask(pipe, get("/healthz"), get("/check/x"))] == [200, 404]
        pipe = app.connect(peer=CLIENT)
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
        await settle()
        [reply] = pipe.replies()
        assert reply.status == 429 and b"100 Continue" not in pipe.received and not app.store.blobs
        assert reply.headers["connection"] == "close"

    run(main)


# -- connections per address ----------------------------------------------------------------------


def test_max_connections_per_ip_503_lingers_and_frees_on_close() -> None:
    async def main() -> None:
        app = App(Config(max_connections_per_ip=2, trusted_proxy=("10.0.0.0/8",)))
        held = [app.connect(peer=("192.0.2.10", 1)), app.connect(peer=("192.0.2.10", 2))]
        refused = app.connect(peer=("192.0.2.10", 3))
        await settle()
        [reply] = refused.replies()
        assert reply.status == 503 and reply.headers["retry-after"] == "1"
        assert reply.json()["message"] == "too many connections from your address, retry later"
        assert refused.eof_sent and app.server.refused == 1  # it lingers, like every refusal
        refused.send(b"GET /healthz HTTP/1.1\r\n")  # discarded
        await settle(2.1)
        assert refused.lost and app.server.connections == 2
        # Other addresses, and trusted proxies (which carry many clients), are not held to it.
        others = [app.connect(peer=("192.0.2.11", 1))] + [app.connect(peer=PROXY) for _ in range(5)]
        for pipe in others:
            assert [r.status for r in await ask(pipe, get("/healthz"))] == [200]
        # An IPv6 client is its /64.
        v6 = [app.connect(peer=(f"2001:db8:1:2::{i}", 1)) for i in (1, 2, 3)]
        await settle()
        assert [len(p.replies()) for p in v6] == [0, 0, 1]
        # A closed connection frees its place.
        held[0].abort()
        await settle()
        again = app.connect(peer=("192.0.2.10", 4))
        assert [r.status for r in await ask(again, get("/healthz"))] == [200]

    run(main)


# -- per-client speed limits ----------------------------------------------------------------------


def test_four_connections_of_one_client_share_its_download_rate() -> None:
    """--client-download-rate 100,000 (burst 65,536): four connections of
    one address downloading 250,000 bytes each take as long as one
    connection downloading 1,000,000; a connection from another address at
    the same time is not slowed by them."""
    async def main() -> None:
        app = App(Config(client_download_rate=100_000))
        await app.put("id-1", b"d" * 250_000, METADATA)
        loop = asyncio.get_running_loop()
        began = loop.time()
        pipes = [app.connect(peer=("192.0.2.10", port)) for port in (1, 2, 3, 4)]
        other = app.connect(peer=("192.0.2.99", 1))
        for pipe in [*pipes, other]:
            pipe.send(get("/download/id-1"))
        done: dict[int, float] = {}
        while len(done) < 5:
            await settle(0.01)
            for index, pipe in enumerate([*pipes, other]):
                if index not in done and pipe.replies():
                    done[index] = loop.time() - began
        assert abs(done[4] - (250_000 - 65_536) / 100_000) < 0.05, done
        assert abs(max(done[i] for i in range(4)) - (1_000_000 - 65_536) / 100_000) < 0.05, done
        assert min(done[i] for i in range(4)) > 7.0, done  # shared fairly: nobody is done long before the rest

    run(main)


def test_client_upload_rate_in_virtual_time() -> None:
    async def main() -> None:
        app = App(Config(client_upload_rate=50_000))
        loop = asyncio.get_running_loop()
        began = loop.time()
        pipes = [app.connect(peer=("192.0.2.10", port)) for port in (1, 2)]
        for pipe in pipes:
            pipe.send(upload(body=b"u" * 100_000))
        while not all(p.received for p in pipes):
            await settle(0.01)
        assert [p.replies()[0].status for p in pipes] == [201, 201]
        assert abs(loop.time() - began - (200_000 - 65_536) / 50_000) < 0.05

    run(main)


# -- upload tokens -----------------------------------------------------------------------------


TOKEN = "k7Qx-9vVn2_LrT8mZp4wYb"


def test_uploads_need_a_bearer_token_and_downloads_do_not() -> None:
    async def main() -> None:
        app = App(Config(upload_token=(TOKEN,), upload_token_file=("another-token-0123456789",)))
        for headers, challenge in [((), 'Bearer realm="uploads"'),
                                   (("Authorization: Bearer wrong-token-0123456789",),
                                    'Bearer realm="uploads", error="invalid_token"'),
                                   ((f"Authorization: Basic {TOKEN}",),
                                    'Bearer realm="uploads", error="invalid_token"')]:
            for method, path in (("POST", "/upload/"), ("PUT", "/upload/f.txt"), ("POST", "/elsewhere")):
                [reply] = await ask(app.connect(), upload(*headers, method=method, path=path))
                assert reply.status == 401, (headers, method, path)
                assert reply.headers["www-authenticate"] == challenge
                assert reply.json() == {"status": 401, "message": "uploads need Authorization: Bearer <token>"}
                assert TOKEN.encode() not in reply.body
        assert not app.store.blobs
        # Refused before the body is read: no 100 Continue.
        pipe = app.connect()
        pipe.send(b"PUT /upload/f.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n")
        await settle()
        assert [r.status for r in pipe.replies()] == [401] and b"100 Continue" not in pipe.received
        # Either token works; check and download need none.
        pipe = app.connect()
        replies = await ask(pipe, upload(f"Authorization: Bearer {TOKEN}"),
                            upload("Authorization: bearer another-token-0123456789", method="PUT"),
                            get("/check/id-1"), get("/download/id-2"), get("/healthz"))
        assert [r.status for r in replies] == [201, 201, 200, 200, 200]

    run(main)
