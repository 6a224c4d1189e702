"""The pages for people, in-process (see tests/inproc.py): ``GET /`` chosen
by ``Accept`` (the web page for a browser, the usage for curl), the files of
``web/`` (types, 304, nothing outside the allow-list), the share page
(contents, escaping, 404, headers, never a download), and the HTML answer
to a browser's form upload next to the JSON everyone else keeps getting."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

from adapters.http.static import WEB_DIR, StaticFiles
from config import Config
from tests.http.calls import ask, upload
from tests.http.test_forms_inproc import file_part, form, post
from tests.inproc import App, Pipe, Reply, run, settle

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
INDEX = b"<!doctype html><title>the page</title><script src=web/app.js></script>\n"
WEB = StaticFiles({
    "index.html": INDEX,
    "app.css": b"body { margin: 0 }\n",
    "app.js": b"console.log('hi');\n",
    "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    "icon.png": b"\x89PNG\r\n\x1a\n" + bytes(64),
})
TYPES = {"index.html": "text/html; charset=utf-8", "app.css": "text/css; charset=utf-8",
         "app.js": "text/javascript; charset=utf-8", "logo.svg": "image/svg+xml", "icon.png": "image/png"}
HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>.txt"


def assert_page_security(reply: Reply) -> None:
    csp = reply.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-content-type-options"] == "nosniff"


class Elements(HTMLParser):
    """Every element's tag and attributes, and the text, as a browser's parser sees them."""

    def __init__(self, page: bytes) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page.decode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def links(self) -> list[str]:
        return [str(attrs["href"]) for tag, attrs in self.tags if tag == "a"]


# -- GET / ------------------------------------------------------------------------------


def test_the_root_is_the_page_for_a_browser_and_the_usage_for_curl() -> None:
    async def main() -> None:
        app = App(static=WEB)
        browser = await ask(app, "GET", "/", Accept=BROWSER)
        assert browser.status == 200 and browser.body == INDEX
        assert browser.headers["content-type"] == "text/html; charset=utf-8"
        assert browser.headers["vary"] == "Accept"
        assert_page_security(browser)
        for accept in ({"Accept": "*/*"}, {}, {"Accept": "text/plain"}, {"Accept": "text/html;q=0.5, */*"}):
            text = await ask(app, "GET", "/", b"", **accept)
            assert text.status == 200 and text.headers["content-type"] == "text/plain; charset=utf-8", accept
            assert text.headers["vary"] == "Accept" and text.headers["x-content-type-options"] == "nosniff"
            usage = text.body.decode()
            assert "curl -F file=@x.pdf http://h/upload/" in usage
            assert "curl --upload-file x.pdf http://h/" in usage
            for url in ("http://h/check/<id>", "http://h/download/<id>", "http://h/share/<id>",
                        "http://h/delete/<id>/<token>", "http://h/files/"):
                assert url in usage, url
            assert "Authorization" not in usage
        head = await ask(app, "HEAD", "/", Accept=BROWSER)
        assert head.status == 200 and head.body == b"" and head.headers["content-length"] == str(len(INDEX))

    run(main)


def test_the_usage_is_on_the_public_url_and_names_the_upload_token() -> None:
    async def main() -> None:
        app = App(Config(public_url="https://files.example.org/drop", upload_token=("secret",)), static=WEB)
        usage = (await ask(app, "GET", "/", Accept="*/*")).body.decode()
        assert "curl -H 'Authorization: Bearer <token>' -F file=@x.pdf https://files.example.org/drop/upload/" in usage
        assert "http://h" not in usage

    run(main)


def test_the_root_still_takes_a_put_and_without_a_page_every_client_gets_the_usage() -> None:
    async def main() -> None:
        app = App(static=StaticFiles({}))
        reply = await ask(app, "GET", "/", Accept=BROWSER)
        assert reply.status == 200 and reply.headers["content-type"] == "text/plain; charset=utf-8"
        put = await ask(app, "PUT", "/", b"raw body")
        assert put.status == 201 and app.store.blobs[put.json()["id"]][0] == b"raw body"
        post = await ask(app, "POST", "/", b"x")  # "/" is served: another method there is a 405
        assert post.status == 405 and set(post.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT"}

    run(main)


def test_the_repository_web_folder_is_what_the_service_serves() -> None:
    async def main() -> None:
        app = App()  # bootstrap reads web/ next to the code
        reply = await ask(app, "GET", "/", Accept=BROWSER)
        assert reply.status == 200 and reply.body == (WEB_DIR / "index.html").read_bytes()
        same = await ask(app, "GET", "/web/index.html")
        assert same.body == reply.body and same.headers["etag"] == reply.headers["etag"]

    run(main)


# -- /web/<name> ----------------------------------------------------------------------


def test_web_files_have_their_type_an_etag_and_a_304() -> None:
    async def main() -> None:
        app = App(static=WEB)
        for name, content_type in TYPES.items():
            reply = await ask(app, "GET", f"/web/{name}")
            assert reply.status == 200 and reply.headers["content-type"] == content_type, name
            assert reply.body == WEB.get(name).body  # type: ignore[union-attr]
            assert reply.headers["cache-control"] == "no-cache"
            assert_page_security(reply)
            etag = reply.headers["etag"]
            assert etag == '"%s"' % hashlib.sha256(reply.body).hexdigest()[:32]
            again = await ask(app, "GET", f"/web/{name}", If_None_Match=f'"other", {etag}')
            assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
            changed = await ask(app, "GET", f"/web/{name}", If_None_Match='"other"')
            assert changed.status == 200 and changed.body == reply.body
            head = await ask(app, "HEAD", f"/web/{name}")
            assert head.status == 200 and head.headers["content-length"] == str(len(reply.body))
        assert (await ask(app, "POST", "/web/app.js", b"x")).status == 405

    run(main)


def test_no_name_outside_the_allow_list_is_served() -> None:
    async def main() -> None:
        app = App(static=WEB)
        for path in ("/web/nothing.css", "/web/..%2Fmain.py", "/web/..%2f..%2fconfig.py", "/web/%2e%2e",
                     "/web/../main.py", "/web/./app.css", "/web/app.css/", "/web/", "/web", "/web/APP.CSS",
                     "/web/app%2Ecss", "/web/README.md", "/web/%00", "/web//etc/passwd"):
            reply = await ask(app, "GET", path)
            assert reply.status == 404 and reply.headers["content-type"] == "application/json", path

    run(main)


# -- /share/<id> ---------------------------------------------------------------------


def test_the_share_page_tells_what_the_file_is_and_links_its_download() -> None:
    async def main() -> None:
        app = App(static=WEB)
        body = bytes(range(256)) * 6000  # 1.46 MiB
        answer = await upload(app, body, Content_Disposition='attachment; filename="report 2026.pdf"',
                              Max_Downloads="3", Expires_In="2d")
        assert answer["linkforshare"] == "http://h/share/id-1"
        page = await ask(app, "GET", "/share/id-1")
        assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert_page_security(page)
        assert page.headers["cache-control"] == "no-store" and page.headers["x-robots-tag"] == "noindex"
        parsed = Elements(page.body)
        text = " ".join(parsed.text)
        assert "report 2026.pdf" in text
        assert "1.46 MiB (1,536,000 bytes)" in text
        assert hashlib.sha256(body).hexdigest() in text
        expires = answer["expires"]  # 2023-11-16T22:30:00Z: two days after the virtual clock's start
        assert expires == "2023-11-16T22:30:00Z" and ("time", {"datetime": expires}) in parsed.tags
        assert "2023-11-16 22:30:00 UTC" in text
        assert "Downloads left" in text and " 3 " in f" {' '.join(text.split())} "
        assert parsed.links() == ["http://h/download/id-1", "http://h/download/id-1/report%202026.pdf"]
        assert ("link", {"rel": "stylesheet", "href": "../web/app.css"}) in parsed.tags
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "style")]
        head = await ask(app, "HEAD", "/share/id-1")
        assert head.status == 200 and head.body == b"" and head.headers["content-length"] == str(len(page.body))

    run(main)


def test_a_hostile_file_name_comes_out_inert() -> None:
    async def main() -> None:
        app = App(static=WEB)
        await app.put("id-1", b"x", {"name": HOSTILE, "content_type": "text/html", "sha256": "0" * 64,
                                     "created": "2026-01-02T03:04:05Z"})
        page = await ask(app, "GET", "/share/id-1")
        assert page.status == 200
        assert b"<script" not in page.body and b"<img" not in page.body
        parsed = Elements(page.body)
        assert {tag for tag, _ in parsed.tags} <= {"html", "head", "meta", "title", "link", "body", "main", "h1",
                                                   "dl", "dt", "dd", "code", "time", "p", "a"}
        assert all("onerror" not in attrs for _, attrs in parsed.tags)
        assert HOSTILE in "".join(parsed.text)  # shown as the text it is
        named = parsed.links()[1]
        assert '"' not in named and "<" not in named and "'" not in named

    run(main)


def test_viewing_the_share_page_is_never_a_download() -> None:
    async def main() -> None:
        app = App(static=WEB)
        await upload(app, b"only once", Max_Downloads="1")
        for _ in range(3):
            assert (await ask(app, "GET", "/share/id-1")).status == 200
            assert (await ask(app, "HEAD", "/share/id-1")).status == 200
        assert app.ledger.records["id-1"].downloads == 0
        download = await ask(app, "GET", "/download/id-1")
        assert download.status == 200 and download.body == b"only once"
        gone = await ask(app, "GET", "/share/id-1")  # used up: deleted
        assert gone.status == 404 and gone.headers["content-type"] == "text/html; charset=utf-8"

    run(main)


def test_an_unknown_expired_or_deleted_link_is_an_html_404() -> None:
    async def main() -> None:
        app = App(static=WEB)
        answer = await upload(app, b"deleted soon")
        await upload(app, b"expires", Expires_In="60")
        assert (await ask(app, "DELETE", answer["linkfordelete"].removeprefix("http://h"))).status == 204
        for path in ("/share/id-1", "/share/id-9", "/share/%3Cscript%3E", "/share/", "/share/id-2"):
            if path == "/share/id-2":
                await settle(61)  # past its expiry
            reply = await ask(app, "GET", path)
            assert reply.status == 404, path
            assert reply.headers["content-type"] == "text/html; charset=utf-8"
            assert_page_security(reply)
            assert reply.headers["cache-control"] == "no-store"
            assert b"<script" not in reply.body and b"Nothing here" in reply.body
            head = await ask(app, "HEAD", path)
            assert head.status == 404 and head.body == b""

    run(main)


# -- upload answers ------------------------------------------------------------------


async def post_form(app: App, body: bytes, accept: str | None) -> Reply:
    pipe: Pipe = app.connect()
    pipe.send(post(body, b"Accept: %s\r\n" % accept.encode() if accept else b""))
    await settle()
    [reply] = pipe.replies()
    return reply


def test_a_browser_form_post_gets_a_page_of_links_and_curl_keeps_its_json() -> None:
    async def main() -> None:
        app = App(static=WEB)
        body = form(file_part("a<b>.txt", b"first"), file_part("two.txt", b"second"))
        page = await post_form(app, body, BROWSER)
        assert page.status == 201 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert_page_security(page)
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["location"] == "http://h/download/id-1"
        parsed = Elements(page.body)
        links = parsed.links()
        for file_id in ("id-1", "id-2"):
            for url in (f"http://h/share/{file_id}", f"http://h/download/{file_id}", f"http://h/check/{file_id}"):
                assert url in links, url
        text = "".join(parsed.text)
        assert "a<b>.txt" in text and b"a<b>" not in page.body
        assert re.search(r"curl -X DELETE http://h/delete/id-1/\S+", text)
        assert "http://h/" in links  # back to the page
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "style")]
        for accept in ("*/*", None, "application/json"):
            reply = await post_form(app, body, accept)
            assert reply.status == 201 and reply.headers["content-type"] == "application/json", accept
            answer = reply.json()
            assert answer["linkforshare"] == f"http://h/share/{answer['id']}"
            files = answer["files"]
            assert [f["linkforshare"] for f in files] == [f"http://h/share/{f['id']}" for f in files]
        assert len(app.store.blobs) == 8

    run(main)


def test_upload_answers_name_the_share_page() -> None:
    async def main() -> None:
        app = App(Config(public_url="https://dl.example.org"))
        answer = await upload(app, b"hello")
        assert answer["linkforshare"] == "https://dl.example.org/share/id-1"
        keys = list(answer)
        assert keys.index("linkforshare") == keys.index("linkfordownloadnamed") + 1
        text = await ask(app, "PUT", "/t.txt", b"hi", Accept="text/plain")
        assert text.body.decode().splitlines()[0] == "https://dl.example.org/download/id-2"
        assert text.body.decode().splitlines()[2] == "https://dl.example.org/share/id-2"

    run(main)


def test_a_refused_browser_form_post_is_a_page_saying_why() -> None:
    async def main() -> None:
        app = App(Config(max_upload_size=10), static=WEB)
        too_large = form(file_part("big<1>.bin", b"x" * 11))
        no_file = form(file_part("", b"", disposition_name=b'filename=""'))
        for body, status, words in ((too_large, 413, b"10 bytes"), (no_file, 400, b"no file part"),
                                    (b"--broken", 400, b"malformed multipart")):
            page = await post_form(app, body, BROWSER)
            assert page.status == status and page.headers["content-type"] == "text/html; charset=utf-8", page
            assert_page_security(page)
            assert b"The upload was refused" in page.body and words in page.body, page.body
            assert "http://h/" in Elements(page.body).links()
            for accept in ("*/*", None):
                reply = await post_form(app, body, accept)
                assert reply.status == status and reply.json()["status"] == status
        assert not app.store.blobs

    run(main)


def test_the_page_files_do_not_count_against_the_request_rate() -> None:
    async def main() -> None:
        app = App(Config(requests_per_minute=2), static=WEB)
        assert (await ask(app, "GET", "/", Accept=BROWSER)).status == 200
        for name in TYPES:
            assert (await ask(app, "GET", f"/web/{name}")).status == 200, name
        assert (await ask(app, "GET", "/web/missing.css")).status == 404  # counted: not a page file
        assert (await ask(app, "GET", "/share/id-1")).status == 429

    run(main)
