"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint,
generated from the route table (``adapters/http/routing.py``), so it cannot
list a path the router does not serve nor miss one it does.

The paths, their path parameters and the methods come from the ``Route``s;
what each operation takes and answers comes from the per-route descriptions
in ``adapters/http/openapi_descriptions.py``. ``describe`` refuses a route
without a description, a description of a route that does not exist, and
methods that differ from the route's (a unit test builds the document, so a
route added without its description fails the tests). ``HEAD`` is described
from ``GET`` (the same answers without a body).

Rendering of the route patterns: ``{id}`` is a path parameter; a rest-of-path
``{name...}`` becomes ``{name}`` (OpenAPI's parameters are one segment: a
``/`` inside it is sent percent-encoded, and the router accepts both), with
``x-rest-of-path: true``. A ``bare`` route (``/upload/{name...}``,
``/files/{id}``) also serves its prefix (``/upload/``, ``/files/``): its
description says which methods are served there (``BARE``) and which on the
pattern (``PATTERN``). Every answer carries ``X-Request-Id``; every operation
may be refused with the transport's errors (``COMMON_ERRORS``).
"""

from __future__ import annotations

from typing import Any

from adapters.http.exchange import Exchange
from adapters.http.openapi_descriptions import (
    BARE,
    COMMON_ERRORS,
    DESCRIPTIONS,
    PARAMETERS,
    SCHEMAS,
    Operation,
)
from adapters.http.request_id import HEADER as REQUEST_ID
from adapters.http.response import JSON_HEADERS, json_bytes
from adapters.http.routing import Route, Router

TITLE = "upload-download-service"
ROUTE = "openapi"


class UndescribedRoute(ValueError):
    """The route table and the descriptions disagree."""


def _path_of(route: Route, form: str) -> str:
    if form == BARE:
        if not route.bare:
            raise UndescribedRoute(f"route {route.name!r} is not bare: it has no {BARE} form")
        return route.prefix
    return "".join(part if isinstance(part, str) else "{" + part[0] + "}" for part in route.parts)


def _path_parameters(route: Route, form: str) -> list[dict[str, Any]]:
    if form == BARE:
        return []
    rests = {part[0] for part in route.parts if isinstance(part, tuple) and part[1]}
    parameters = []
    for name in route.parameters:
        parameter: dict[str, Any] = {"name": name, "in": "path", "required": True,
                                     "description": PARAMETERS[name], "schema": {"type": "string", "minLength": 1}}
        if name in rests:
            parameter["description"] += " (the rest of the path: it may hold '/', sent as is or as %2F)"
            parameter["x-rest-of-path"] = True
        parameters.append(parameter)
    return parameters


def _response(description: str, content: dict[str, Any] | None, headers: dict[str, Any],
              links: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "headers": {REQUEST_ID: {"$ref": "#/components/headers/RequestId"}, **headers},
    }
    if content is not None:
        answer["content"] = content
    if links:
        answer["links"] = links
    return answer


def _operation(route: Route, method: str, operation: Operation, path_parameters: list[dict[str, Any]],
               head: bool = False) -> dict[str, Any]:
    # The transport's refusals by reference (one copy in the document), the operation's own in full.
    responses: dict[int, dict[str, Any]] = {
        status: {"$ref": f"#/components/responses/Refused{status}"} for status in COMMON_ERRORS}
    for status, answer in operation.responses.items():
        responses[status] = _response(answer.description, None if head else answer.content, answer.headers,
                                      answer.links)
    described: dict[str, Any] = {
        "operationId": f"{route.name}_{'bare_' if not path_parameters and route.parameters else ''}{method.lower()}",
        "summary": operation.summary,
        "parameters": [*path_parameters, *operation.parameters,
                       {"$ref": "#/components/parameters/RequestId"}],
        "responses": {str(status): responses[status] for status in sorted(responses)},
    }
    if operation.description:
        described["description"] = operation.description
    if operation.body is not None and not head:
        described["requestBody"] = operation.body
    if operation.security:
        described["security"] = operation.security
    return described


def describe(router: Router, version: str, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``router``'s routes. Raises ``UndescribedRoute``
    when a route and its description disagree."""
    unknown = set(DESCRIPTIONS) - {route.name for route in router.routes}
    if unknown:
        raise UndescribedRoute(f"descriptions of routes that do not exist: {sorted(unknown)}")
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        forms = DESCRIPTIONS.get(route.name)
        if forms is None:
            raise UndescribedRoute(f"route {route.name!r} ({route.pattern}) has no OpenAPI description")
        described_methods: set[str] = set()
        for form, operations in forms.items():
            path = _path_of(route, form)
            path_parameters = _path_parameters(route, form)
            item = paths.setdefault(path, {})
            for method, operation in operations.items():
                if method not in route.methods:
                    raise UndescribedRoute(f"route {route.name!r} does not accept {method}")
                item[method.lower()] = _operation(route, method, operation, path_parameters)
                described_methods.add(method)
                if method == "GET" and "HEAD" in route.methods and "HEAD" not in operations:
                    item["head"] = _operation(route, "HEAD", operation, path_parameters, head=True)
                    described_methods.add("HEAD")
        missing = set(route.methods) - described_methods
        if missing:
            raise UndescribedRoute(f"route {route.name!r} has no description of {sorted(missing)}")
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version,
                 "description": "Upload a file, get unguessable links to check, download and delete it."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"Refused{status}": _response(answer.description, answer.content, answer.headers)
                          for status, answer in COMMON_ERRORS.items()},
            "headers": {"RequestId": {"description": "the request's id: the client's when sane, else a fresh one",
                                      "schema": {"type": "string", "maxLength": 128}}},
            "parameters": {"RequestId": {
                "name": REQUEST_ID, "in": "header", "required": False,
                "description": "an id for this request, echoed when it is at most 128 printable ASCII characters "
                               "without space, quote, comma or semicolon (else replaced by a fresh one)",
                "schema": {"type": "string"}}},
            "securitySchemes": {"uploadToken": {"type": "http", "scheme": "bearer",
                                                "description": "required for uploads with --upload-token"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


class OpenApiEndpoint:
    """Answers ``GET /openapi.json`` with the document, made on the first
    request (a route without description fails that request and the unit
    tests, not the service's start)."""

    def __init__(self, router: Router, version: str, server_url: str | None = None) -> None:
        self._router = router
        self._version = version
        self._server_url = server_url
        self._body = b""
        self._headers = [*JSON_HEADERS, ("Cache-Control", "no-cache")]

    def handle(self, exchange: Exchange) -> None:
        if not self._body:
            self._body = json_bytes(describe(self._router, self._version, self._server_url))
        exchange.respond(200, self._headers, self._body)
