"""The OpenAPI document is generated from the route table: every route, with
every method it accepts, on paths the router really serves; a route without a
description (one added later, e.g. by another feature) is an error."""

from __future__ import annotations

import re
from typing import Any

import pytest

from adapters.http import openapi_descriptions
from adapters.http.openapi import UndescribedRoute, describe
from adapters.http.openapi_descriptions import PATTERN, Answer, Operation
from adapters.http.routes import ROUTES
from adapters.http.routing import Route, Router
from config import VERSION

METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def filled(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "x", path)


def test_every_route_appears_with_every_method_on_paths_it_serves() -> None:
    document = describe(ROUTES, VERSION)
    assert document["openapi"] == "3.1.0" and document["info"]["version"] == VERSION
    served: dict[str, set[str]] = {route.name: set() for route in ROUTES.routes}
    for path, item in document["paths"].items():
        for method in (m for m in item if m in METHODS):
            match = ROUTES.match(method.upper(), filled(path))
            served[match.route.name].add(method.upper())
            operation = item[method]
            assert operation["summary"] and operation["responses"], (path, method)
            declared = {p["name"] for p in operation["parameters"] if p.get("in") == "path"}
            assert declared == set(re.findall(r"\{([a-z_]+)\}", path)), (path, method)
    assert served == {route.name: set(route.methods) for route in ROUTES.routes}


def test_operation_ids_are_unique_and_links_point_to_existing_operations() -> None:
    document = describe(ROUTES, VERSION)
    operations = [op for item in document["paths"].values() for m, op in item.items() if m in METHODS]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    links = [link for op in operations for answer in op["responses"].values()
             for link in answer.get("links", {}).values()]
    assert links and all(link["operationId"] in ids for link in links)


def test_rest_of_path_parameters_are_marked() -> None:
    document = describe(ROUTES, VERSION)
    [name] = [p for p in document["paths"]["/download/{id}/{name}"]["get"]["parameters"] if p.get("name") == "name"]
    assert name["x-rest-of-path"] is True and "'/'" in name["description"]
    assert "/upload/" in document["paths"] and "/upload/{name}" in document["paths"]


def test_a_route_without_a_description_is_refused() -> None:
    router = Router([*ROUTES.routes, Route("version", ("GET",), "/version")])
    with pytest.raises(UndescribedRoute, match="'version'"):
        describe(router, VERSION)


def test_described_methods_must_be_the_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    check_only_get = Router([Route("check", ("GET",), "/check/{id}")])
    with pytest.raises(UndescribedRoute, match="descriptions of routes that do not exist"):
        describe(check_only_get, VERSION)
    ok = Operation("x", {200: Answer("ok")})
    descriptions: dict[str, Any] = {"check": {PATTERN: {"GET": ok, "POST": ok}}}
    monkeypatch.setattr("adapters.http.openapi.DESCRIPTIONS", descriptions)
    with pytest.raises(UndescribedRoute, match="does not accept POST"):
        describe(check_only_get, VERSION)
    descriptions["check"] = {PATTERN: {"GET": ok}}
    with pytest.raises(UndescribedRoute, match=r"no description of \['DELETE'\]"):
        describe(Router([Route("check", ("GET", "DELETE"), "/check/{id}")]), VERSION)
    assert set(describe(check_only_get, VERSION)["paths"]) == {"/check/{id}"}


def test_adding_a_description_is_a_few_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    router = Router([*ROUTES.routes, Route("version", ("GET",), "/version")])
    monkeypatch.setitem(openapi_descriptions.DESCRIPTIONS, "version", {PATTERN: {"GET": Operation(
        "The service's version", {200: Answer("the version", openapi_descriptions.TEXT)})}})
    assert "get" in describe(router, VERSION)["paths"]["/version"]


def test_the_public_url_is_the_server() -> None:
    assert "servers" not in describe(ROUTES, VERSION)
    assert describe(ROUTES, VERSION, "https://files.example.com/x")["servers"] == [
        {"url": "https://files.example.com/x"}]
