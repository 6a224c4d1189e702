"""CORS in-process (see tests/inproc.py): preflights, the headers of actual
answers (errors included), refused origins, and CORS off by default."""

from __future__ import annotations

from adapters.http.cors import MAX_REQUESTED_HEADERS, _allowed_request_headers
from config import Config
from tests.inproc import App, Reply, run, settle
from tests.unit.test_headers import best_seconds

APP_ORIGIN = "https://app.example"
CORS_HEADERS = {"access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-max-age", "access-control-expose-headers"}


def preflight(path: bytes, origin: bytes = APP_ORIGIN.encode(), method: bytes = b"POST",
              headers: bytes = b"content-type, x-evil, Content-Disposition, content-type") -> bytes:
    return (b"OPTIONS %s HTTP/1.1\r\nHost: h\r\nOrigin: %s\r\nAccess-Control-Request-Method: %s\r\n"
            b"Access-Control-Request-Headers: %s\r\n\r\n" % (path, origin, method, headers))


async def exchange(app: App, *requests: bytes) -> list[Reply]:
    pipe = app.connect()
    pipe.send(b"".join(requests))
    await settle()
    return pipe.replies()


def cors_of(reply: Reply) -> dict[str, str]:
    return {name: value for name, value in reply.headers.items() if name in CORS_HEADERS or name == "vary"}


def test_preflight_from_an_allowed_origin() -> None:
    async def main() -> None:
        app = App(Config(cors_origin=(APP_ORIGIN, "http://other.example:8080")))
        upload, download, root, unknown = await exchange(
            app, preflight(b"/upload/"), preflight(b"/download/abc/x.pdf", method=b"GET", headers=b""),
            preflight(b"/x.txt", method=b"PUT", headers=b"Expires-In,max-downloads"), preflight(b"/nothing/here"))
        assert upload.status == 204 and upload.body == b"" and "content-length" not in upload.headers
        assert cors_of(upload) == {
            "access-control-allow-origin": APP_ORIGIN,
            "access-control-allow-methods": "POST, PUT",
            "access-control-allow-headers": "Content-Type, Content-Disposition",
            "access-control-max-age": "7200",
            "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }
        assert download.status == 204 and download.headers["access-control-allow-methods"] == "GET, HEAD"
        assert "access-control-allow-headers" not in download.headers
        assert root.status == 204 and root.headers["access-control-allow-methods"] == "PUT"
        assert root.headers["access-control-allow-headers"] == "Expires-In, Max-Downloads"
        assert unknown.status == 404 and unknown.headers["access-control-allow-origin"] == APP_ORIGIN

    run(main)


def test_actual_answers_carry_the_origin_errors_included() -> None:
    async def main() -> None:
        app = App(Config(cors_origin=(APP_ORIGIN,), max_upload_size=4))
        origin = b"Origin: " + APP_ORIGIN.encode() + b"\r\n"
        replies = await exchange(
            app,
            b"POST /upload/a.txt HTTP/1.1\r\nHost: h\r\n%sContent-Length: 2\r\n\r\nhi" % origin,
            b"GET /check/id-1 HTTP/1.1\r\nHost: h\r\n%s\r\n" % origin,
            b"GET /download/id-1 HTTP/1.1\r\nHost: h\r\n%s\r\n" % origin,
            b"GET /check/id-9 HTTP/1.1\r\nHost: h\r\n%s\r\n" % origin,
            b"DELETE /check/id-1 HTTP/1.1\r\nHost: h\r\n%s\r\n" % origin,
            b"GET /elsewhere HTTP/1.1\r\nHost: h\r\n%s\r\n" % origin,
            b"POST /upload/ HTTP/1.1\r\nHost: h\r\n%sContent-Length: 9\r\n\r\n123456789" % origin,
        )
        assert [r.status for r in replies] == [201, 200, 200, 404, 405, 404, 413]
        for reply in replies:
            assert cors_of(reply) == {
                "access-control-allow-origin": APP_ORIGIN,
                "vary": "Origin",
                "access-control-expose-headers":
                    "Location, X-Url-Delete, Content-Disposition, Content-Range, ETag, Retry-After, X-Request-Id",
            }, reply

    run(main)


def test_the_error_answers_of_the_connection_carry_it_too() -> None:
    async def main() -> None:
        app = App(Config(cors_origin=("*",)))
        pipe = app.connect()
        pipe.send(b"POST /upload/ HTTP/1.1\r\nHost: h\r\nOrigin: https://any.example\r\nContent-Length: 10\r\n\r\nab")
        await settle(61)  # the body stalls past --body-timeout
        [timeout] = pipe.replies()
        assert timeout.status == 408 and timeout.headers["access-control-allow-origin"] == "*"

    run(main)


def test_any_origin_with_a_star_and_origins_compare_case_insensitively() -> None:
    async def main() -> None:
        star = App(Config(cors_origin=("*",)))
        [reply, pre] = await exchange(star, b"GET /healthz HTTP/1.1\r\nHost: h\r\nOrigin: null\r\n\r\n",
                                      preflight(b"/healthz", origin=b"https://x.example", method=b"GET"))
        assert reply.headers["access-control-allow-origin"] == "*" and reply.headers["vary"] == "Origin"
        assert pre.status == 204 and pre.headers["access-control-allow-origin"] == "*"
        listed = App(Config(cors_origin=(APP_ORIGIN,)))
        [reply] = await exchange(listed, b"GET /healthz HTTP/1.1\r\nHost: h\r\nOrigin: https://APP.example\r\n\r\n")
        assert reply.headers["access-control-allow-origin"] == "https://APP.example"

    run(main)


def test_origins_not_listed_and_cors_off_get_no_cors_header() -> None:
    async def main() -> None:
        for config in (Config(cors_origin=(APP_ORIGIN,)), Config()):
            app = App(config)
            refused, actual, no_origin, plain_options = await exchange(
                app,
                preflight(b"/upload/", origin=b"https://evil.example"),
                b"GET /healthz HTTP/1.1\r\nHost: h\r\nOrigin: https://evil.example\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
                b"OPTIONS /upload/ HTTP/1.1\r\nHost: h\r\nOrigin: %s\r\n\r\n" % APP_ORIGIN.encode(),
            )
            assert refused.status == 405 and refused.headers["allow"] == "POST, PUT"  # as without CORS
            assert actual.status == no_origin.status == 200
            assert plain_options.status == 405  # not a preflight
            for reply in (refused, actual, no_origin):
                assert not cors_of(reply), reply
        [off] = await exchange(App(), preflight(b"/upload/"))
        assert off.status == 405 and not cors_of(off)

    run(main)


def test_requested_headers_are_bounded_and_linear() -> None:
    many = ",".join(["x-a"] * MAX_REQUESTED_HEADERS + ["content-type"])
    assert _allowed_request_headers(many) == []
    assert _allowed_request_headers(" ACCEPT ,accept, authorization") == ["Accept", "Authorization"]
    small = best_seconds(lambda: _allowed_request_headers("x" * 4000 + "," * 2000))
    large = best_seconds(lambda: _allowed_request_headers("x" * 32000 + "," * 16000))
    assert large < 24 * small + 0.002, (small, large)
