"""The route table: matching, 404 versus 405, and links built from the same patterns."""

from __future__ import annotations

import pytest

from adapters.http.errors import domain_error_payload, status_of
from adapters.http.routes import ROUTES
from adapters.http.routing import MethodNotAllowed, NoRoute, Route, Router
from domain.errors import DomainError, FileNotFound, StorageFull, UploadTooLarge


@pytest.mark.parametrize("method, path, name, value", [
    ("POST", "/upload/", "upload", ""),
    ("POST", "/upload", "upload", ""),
    ("PUT", "/upload/x%20y.pdf", "upload", "x%20y.pdf"),
    ("PUT", "/upload/a/b", "upload", "a/b"),
    ("GET", "/check/abc", "check", "abc"),
    ("HEAD", "/download/abc", "download", "abc"),
    ("GET", "/check/", "check", ""),
    ("GET", "/healthz", "health", ""),
])
def test_requests_find_their_route(method: str, path: str, name: str, value: str) -> None:
    match = ROUTES.match(method, path)
    assert (match.route.name, match.value) == (name, value)


@pytest.mark.parametrize("path", ["/", "/check", "/downloads/x", "/healthz/", "/uploadx", "/health"])
def test_unknown_paths_are_no_route(path: str) -> None:
    with pytest.raises(NoRoute):
        ROUTES.match("GET", path)


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
    assert (match.route.name, match.value) == ("delete", "id-1/to%2Fken")


def test_links_are_built_from_the_same_patterns_and_match_back() -> None:
    for name in ("check", "download"):
        url = ROUTES.url(name, "https://files.example.com/base", "id/../x")
        assert url == f"https://files.example.com/base/{name}/id%2F..%2Fx"
        path = url.removeprefix("https://files.example.com/base")
        assert ROUTES.match("GET", path).route.name == name


def test_the_table_refuses_what_it_cannot_match() -> None:
    with pytest.raises(ValueError):
        Router([Route("a", ("GET",), "/x"), Route("a", ("GET",), "/y")])
    with pytest.raises(ValueError):
        Router([Route("a", ("GET",), "/x/{id}/more")])


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
