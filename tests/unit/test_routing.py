"""The route table: matching, 404 versus 405, and links built from the same patterns."""

from __future__ import annotations

import pytest

from adapters.http.errors import domain_error_payload, status_of
from adapters.http.routes import ROUTES
from adapters.http.routing import MethodNotAllowed, NoRoute, Route, Router
from domain.errors import DomainError, FileNotFound, StorageFull, UploadTooLarge


@pytest.mark.parametrize("method, path, name, values", [
    ("POST", "/upload/", "upload", ("",)),
    ("POST", "/upload", "upload", ("",)),
    ("PUT", "/upload/x%20y.pdf", "upload", ("x%20y.pdf",)),
    ("PUT", "/upload/a/b", "upload", ("a/b",)),
    ("GET", "/check/abc", "check", ("abc",)),
    ("HEAD", "/download/abc", "download", ("abc",)),
    ("GET", "/download/abc/x%20y.pdf", "download_named", ("abc", "x%20y.pdf")),
    ("HEAD", "/download/abc/a/b/", "download_named", ("abc", "a/b/")),
    ("GET", "/download/abc/", "download_named", ("abc", "")),
    ("GET", "/check/", "check", ("",)),
    ("GET", "/healthz", "health", ()),
    ("PUT", "/hello.txt", "upload_at_root", ("hello.txt",)),
    ("PUT", "/x%2Fy", "upload_at_root", ("x%2Fy",)),
    ("PUT", "/checks", "upload_at_root", ("checks",)),
    # Issue 16: the pages. `/` is the page for GET and HEAD, and still the root upload for PUT.
    ("GET", "/", "home", ()),
    ("HEAD", "/", "home", ()),
    ("PUT", "/", "upload_at_root", ("",)),
    ("GET", "/share/abc", "share", ("abc",)),
    ("HEAD", "/web/app.css", "static", ("app.css",)),
    ("GET", "/web/..%2Fmain.py", "static", ("..%2Fmain.py",)),  # the raw segment: never decoded into a path
])
def test_requests_find_their_route(method: str, path: str, name: str, values: tuple[str, ...]) -> None:
    match = ROUTES.match(method, path)
    assert (match.route.name, match.values) == (name, values)
    assert match.value == (values[0] if values else "")


@pytest.mark.parametrize("path", ["/check", "/downloads/x", "/healthz/", "/uploadx", "/health", "/check/a/b",
                                  "/hello.txt", "/web", "/web/a/b.css", "/web/../main.py", "/share/a/b", "//"])
def test_unknown_paths_are_no_route(path: str) -> None:
    with pytest.raises(NoRoute):
        ROUTES.match("GET", path)


@pytest.mark.parametrize("path", ["/check", "/download", "/check/a/b", "/healthz/x", "/a/b", "/download/"])
def test_the_root_upload_takes_one_segment_and_never_a_path_the_service_owns(path: str) -> None:
    with pytest.raises((NoRoute, MethodNotAllowed)) as caught:
        ROUTES.match("PUT", path)
    if path == "/download/":  # the download route has this path: its methods are listed
        assert isinstance(caught.value, MethodNotAllowed) and caught.value.allowed == ("GET", "HEAD", "DELETE")
    for owned in ("/check/x", "/healthz", "/download/x/y"):
        with pytest.raises(MethodNotAllowed):
            ROUTES.match("PUT", owned)


def test_a_fallback_matches_only_its_own_methods_and_never_makes_a_405() -> None:
    router = Router([
        Route("file", ("GET",), "/files/{id}"),
        Route("root", ("PUT", "POST"), "/{name}", fallback=True),
    ])
    assert router.match("POST", "/x").route.name == "root"
    with pytest.raises(NoRoute):
        router.match("GET", "/x")
    with pytest.raises(NoRoute):
        router.match("PUT", "/files")  # owned by the "file" route's first segment
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("PUT", "/files/x")
    assert caught.value.allowed == ("GET",)
    assert router.methods("/x") == ("PUT", "POST") and router.methods("/files/x") == ("GET",)
    with pytest.raises(NoRoute):
        router.methods("/files")


def test_a_fallback_with_an_exact_path_makes_a_405_there_only() -> None:
    """``/`` is the home page (GET, HEAD) and a transfer.sh upload (PUT):
    another method there is a 405 naming all three (schemathesis' ST204);
    ``/x`` stays a 404 for it."""
    assert ROUTES.match("PUT", "/").route.name == "upload_at_root"
    assert ROUTES.match("GET", "/").route.name == "home"
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTES.match("TRACE", "/")
    assert set(caught.value.allowed) == {"GET", "HEAD", "PUT"}
    with pytest.raises(NoRoute):
        ROUTES.match("TRACE", "/x")
    with pytest.raises(NoRoute):
        ROUTES.match("GET", "/x")


def test_routes_sharing_a_path_split_the_methods_between_them() -> None:
    router = Router([
        Route("read", ("GET", "HEAD"), "/d/{id}"),
        Route("delete", ("DELETE",), "/d/{id}"),
    ])
    assert router.match("DELETE", "/d/1").route.name == "delete"
    assert router.match("GET", "/d/1").route.name == "read"
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("PUT", "/d/1")
    assert caught.value.allowed == ("GET", "HEAD", "DELETE")
    assert router.methods("/d/1") == ("GET", "HEAD", "DELETE")


def test_a_known_path_with_another_method_lists_the_allowed_ones() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTES.match("POST", "/download/x")
    assert caught.value.allowed == ("GET", "HEAD", "DELETE")
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTES.match("GET", "/delete/x/token")  # a link preview never deletes
    assert caught.value.allowed == ("DELETE",)
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTES.match("GET", "/upload")
    assert caught.value.allowed == ("POST", "PUT")


def test_a_link_of_several_segments_encodes_each_and_matches_back() -> None:
    url = ROUTES.url("delete", "http://h", "id-1", "to/ken")
    assert url == "http://h/delete/id-1/to%2Fken"
    match = ROUTES.match("DELETE", url.removeprefix("http://h"))
    assert (match.route.name, match.values) == ("delete", ("id-1", "to%2Fken"))


def test_links_are_built_from_the_same_patterns_and_match_back() -> None:
    for name in ("check", "download"):
        url = ROUTES.url(name, "https://files.example.com/base", "id/../x")
        assert url == f"https://files.example.com/base/{name}/id%2F..%2Fx"
        path = url.removeprefix("https://files.example.com/base")
        assert ROUTES.match("GET", path).route.name == name
    url = ROUTES.url("download_named", "http://h", "abc", "r\u00e9sum\u00e9 v2/final?.pdf")
    assert url == "http://h/download/abc/r%C3%A9sum%C3%A9%20v2%2Ffinal%3F.pdf"
    assert ROUTES.match("GET", url.removeprefix("http://h")).values == ("abc", "r%C3%A9sum%C3%A9%20v2%2Ffinal%3F.pdf")


def test_the_table_refuses_what_it_cannot_match() -> None:
    with pytest.raises(ValueError):
        Router([Route("a", ("GET",), "/x"), Route("a", ("GET",), "/y")])
    for pattern in ("/x/{id...}/more", "/x/{id}.txt", "/x{id}", "/x/{}", "/x/{a-b}", "/x/{id", "/x/id}", "x/{id}"):
        with pytest.raises(ValueError):
            Router([Route("a", ("GET",), pattern)])
    assert Router([Route("a", ("GET",), "/x/{id}/more")]).match("GET", "/x/1/more").values == ("1",)


def test_domain_errors_map_by_class_with_inheritance() -> None:
    class QuotaExceeded(StorageFull):
        pass

    class Unmapped(DomainError):
        pass

    assert status_of(UploadTooLarge(5)) == 413
    assert status_of(QuotaExceeded()) == 507  # a subclass inherits its base's status
    assert status_of(Unmapped()) == 500
    assert domain_error_payload(FileNotFound("abc")) == (404, {"status": 404, "file": "abc",
                                                               "message": "is not found"})
    assert domain_error_payload(StorageFull()) == (507, {"status": 507,
                                                         "message": "not enough storage space for this upload"})
