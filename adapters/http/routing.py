"""The route table: the one place where the service's URL shapes are written.

Each ``Route`` names an endpoint, the methods it answers and its path
pattern. ``Router.match`` finds the route for a request (and tells 404 from
405); ``Router.url`` builds a public link from the same pattern, so a link
can never point to a path the router does not serve. An OpenAPI description
can be generated from this table too.

Patterns are literal text and parameters, each parameter a whole path
segment: ``{name}`` is one segment (no ``/``, possibly empty), and a last
``{name...}`` is the rest of the path (slashes included, possibly empty).
Values are the path as sent (still percent-encoded). A route with
``bare=True`` also matches its prefix without the final slash (``/upload``
for ``/upload/{name...}``).

Several routes may share a path with different methods: a path that some
route has, but not with the request's method, is a 405 listing the methods
of all of them. A ``fallback`` route is tried only after every other route,
only with its own methods (a path no other route has stays a 404 whatever
the method, never a 405, unless a fallback without parameters has that
exact path, as ``/`` is the home page's: then its methods and those of the
other fallbacks matching it are the ``Allow`` of a 405), and never on a path
the service owns: one whose
first segment is the first literal segment of another route (``/check``,
``/download/x``), so a catch-all ``/{name}`` cannot shadow them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator
from urllib.parse import quote


@dataclass(frozen=True)
class Route:
    name: str
    methods: tuple[str, ...]
    pattern: str
    bare: bool = False
    fallback: bool = False
    # The pattern cut into literal text (str) and parameters ((name, rest?)),
    # alternating, literal first.
    parts: tuple[str | tuple[str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _parse_pattern(self.pattern))

    @property
    def prefix(self) -> str:
        """The literal part before the first parameter (the whole pattern without one)."""
        first = self.parts[0]
        assert isinstance(first, str)
        return first

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(part[0] for part in self.parts if isinstance(part, tuple))

    @property
    def first_segment(self) -> str | None:
        """The literal first path segment (``check`` of ``/check/{id}``), if any."""
        segment, slash, _ = self.prefix[1:].partition("/")
        return segment if segment and (slash or len(self.parts) == 1) else None


def _parse_pattern(pattern: str) -> tuple[str | tuple[str, bool], ...]:
    if not pattern.startswith("/"):
        raise ValueError(f"a pattern starts with '/': {pattern}")
    parts: list[str | tuple[str, bool]] = []
    at = 0
    while (brace := pattern.find("{", at)) >= 0:
        close = pattern.find("}", brace)
        if close < 0 or pattern[brace - 1] != "/" or pattern[close + 1:close + 2] not in ("", "/"):
            raise ValueError(f"a parameter must be a whole path segment: {pattern}")
        name = pattern[brace + 1:close]
        rest = name.endswith("...")
        if not name.removesuffix("...").isidentifier():
            raise ValueError(f"a parameter is named by an identifier: {pattern}")
        if rest and close + 1 != len(pattern):
            raise ValueError(f"only the last parameter may take the rest of the path: {pattern}")
        parts.extend((pattern[at:brace], (name.removesuffix("..."), rest)))
        at = close + 1
    parts.append(pattern[at:])
    if "}" in "".join(part for part in parts if isinstance(part, str)):
        raise ValueError(f"unbalanced braces: {pattern}")
    return tuple(parts)


@dataclass(frozen=True)
class Match:
    route: Route
    values: tuple[str, ...]  # one per parameter, in pattern order

    @property
    def value(self) -> str:
        """The first parameter's value ("" for a route without one)."""
        return self.values[0] if self.values else ""


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
        self._regular = tuple(route for route in self.routes if not route.fallback)
        self._fallbacks = tuple(route for route in self.routes if route.fallback)
        self._owned = {route.first_segment for route in self._regular} - {None}

    def match(self, method: str, path: str) -> Match:
        """The route for ``method`` and ``path``; raises ``NoRoute`` or
        ``MethodNotAllowed``. Linear in the number of routes (a handful)
        times the path's length."""
        allowed: list[str] = []
        by_fallbacks: list[str] = []
        exact = False  # a fallback without parameters matched: the path is the service's own
        for route, values in self._candidates(path):
            if method in route.methods:
                return Match(route, values)
            if route.fallback:
                by_fallbacks.extend(m for m in route.methods if m not in by_fallbacks)
                exact = exact or not route.parameters
            else:
                allowed.extend(m for m in route.methods if m not in allowed)
        if exact:
            allowed.extend(m for m in by_fallbacks if m not in allowed)
        if allowed:
            raise MethodNotAllowed(tuple(allowed))
        raise NoRoute(path)

    def methods(self, path: str) -> tuple[str, ...]:
        """Every method some route answers on ``path`` (what a CORS preflight
        may announce); raises ``NoRoute`` when there is none."""
        allowed: list[str] = []
        for route, _ in self._candidates(path):
            allowed.extend(m for m in route.methods if m not in allowed)
        if not allowed:
            raise NoRoute(path)
        return tuple(allowed)

    def _candidates(self, path: str) -> Iterator[tuple[Route, tuple[str, ...]]]:
        """The routes whose pattern matches ``path``, in priority order: the
        regular ones; the fallbacks only when none of those matched and the
        path is not owned by one."""
        found = False
        for route in self._regular:
            values = _match_path(route, path)
            if values is not None:
                found = True
                yield route, values
        if found or path[1:].partition("/")[0] in self._owned:
            return
        for route in self._fallbacks:
            values = _match_path(route, path)
            if values is not None:
                yield route, values

    def url(self, name: str, base: str, *values: str) -> str:
        """The absolute URL of route ``name`` with its parameters set to
        ``values`` (each percent-encoded, ``/`` included), on ``base``
        (``scheme://host[:port][/prefix]``). A missing value is empty."""
        route = self._by_name[name]
        given = iter(values)
        return base + "".join(part if isinstance(part, str) else quote(next(given, ""), safe="")
                              for part in route.parts)


def _match_path(route: Route, path: str) -> tuple[str, ...] | None:
    """The parameter values when ``path`` has ``route``'s shape, else None."""
    parts = route.parts
    if route.bare and len(parts) == 3 and parts[2] == "" and path == route.prefix.rstrip("/"):
        return ("",)
    values: list[str] = []
    at = 0
    for part in parts:
        if isinstance(part, str):
            if not path.startswith(part, at):
                return None
            at += len(part)
        elif part[1]:
            values.append(path[at:])
            at = len(path)
        else:
            end = path.find("/", at)
            end = len(path) if end < 0 else end
            values.append(path[at:end])
            at = end
    return tuple(values) if at == len(path) else None
