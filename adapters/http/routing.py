"""The route table: the one place where the service's URL shapes are written.

Each ``Route`` names an endpoint, the methods it answers and its path
pattern. ``Router.match`` finds the route for a request (and tells 404 from
405); ``Router.url`` builds a public link from the same pattern, so a link
can never point to a path the router does not serve. An OpenAPI description
can be generated from this table too.

Patterns are literal segments plus at most one trailing parameter,
``{name}``: the rest of the path as sent (still percent-encoded, possibly
empty, slashes included). A route with ``bare=True`` also matches its prefix
without the final slash (``/upload`` for ``/upload/{name}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from urllib.parse import quote


@dataclass(frozen=True)
class Route:
    name: str
    methods: tuple[str, ...]
    pattern: str
    bare: bool = False

    @property
    def prefix(self) -> str:
        """The literal part before the parameter (the whole pattern without one)."""
        brace = self.pattern.find("{")
        return self.pattern if brace < 0 else self.pattern[:brace]

    @property
    def parameter(self) -> str | None:
        brace = self.pattern.find("{")
        return None if brace < 0 else self.pattern[brace + 1:-1]


@dataclass(frozen=True)
class Match:
    route: Route
    value: str  # the parameter's value ("" for a route without one)


class NoRoute(LookupError):
    """No route has this path (404)."""


class MethodNotAllowed(LookupError):
    """A route has this path but not this method (405 with ``Allow``)."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._by_name = {route.name: route for route in self.routes}
        if len(self._by_name) != len(self.routes):
            raise ValueError("route names must be unique")
        for route in self.routes:
            if "{" in route.pattern and (not route.pattern.endswith("}") or route.pattern.count("{") != 1):
                raise ValueError(f"only one trailing parameter is supported: {route.pattern}")

    def match(self, method: str, path: str) -> Match:
        """The route for ``method`` and ``path``; raises ``NoRoute`` or
        ``MethodNotAllowed``. Linear in the number of routes (a handful)."""
        for route in self.routes:
            value = _match_path(route, path)
            if value is None:
                continue
            if method not in route.methods:
                raise MethodNotAllowed(route.methods)
            return Match(route, value)
        raise NoRoute(path)

    def url(self, name: str, base: str, value: str = "", *more: str) -> str:
        """The absolute URL of route ``name`` with its parameter set to
        ``value`` (percent-encoded), on ``base`` (``scheme://host[:port][/prefix]``).
        ``more`` are further path segments of the parameter (each
        percent-encoded, joined with ``/``)."""
        route = self._by_name[name]
        return base + route.prefix + "/".join(quote(part, safe="") for part in (value, *more))


def _match_path(route: Route, path: str) -> str | None:
    prefix = route.prefix
    if route.parameter is None:
        return "" if path == prefix else None
    if path.startswith(prefix):
        return path[len(prefix):]
    if route.bare and path == prefix.rstrip("/"):
        return ""
    return None
