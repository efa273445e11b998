"""Endpoint path templates → per-endpoint values, matched the way the router matches them.

The edge layer runs before routing, so a per-endpoint edge setting (endpoint-level CORS) needs its
own lookup. Like gin, each method has its own routes and, segment by segment, a static segment wins
over a ``{param}`` one; a parameter never matches an empty segment.
"""

from __future__ import annotations

import re
from typing import Final, Generic, TypeVar

__all__ = ["RouteMap"]

T = TypeVar("T")
_PARAM: Final = re.compile(r"^\{[^}]+\}$")


class RouteMap(Generic[T]):
    """Filled once at start-up with :meth:`add`; :meth:`get` is the per-request lookup."""

    __slots__ = ("_dynamic", "_static")

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], T] = {}
        #: method → [(segments with None for a parameter, value)], best precedence first
        self._dynamic: dict[str, list[tuple[tuple[str | None, ...], T]]] = {}

    def __bool__(self) -> bool:
        return bool(self._static or self._dynamic)

    def add(self, template: str, method: str, value: T) -> None:
        """Map ``method template`` (``GET /users/{id}``) to ``value``; a later add wins."""
        segments = tuple(None if _PARAM.match(s) else s for s in template.split("/"))
        if None not in segments:
            self._static[(method, template)] = value
            return
        routes = [r for r in self._dynamic.get(method, []) if r[0] != segments]
        routes.append((segments, value))
        # static-before-parameter at the first differing segment is the order of these keys
        routes.sort(key=lambda r: tuple(s is None for s in r[0]))
        self._dynamic[method] = routes

    def get(self, method: str, path: str) -> T | None:
        """The value of the route ``method path`` would be routed to, if any has one."""
        found = self._static.get((method, path))
        if found is not None:
            return found
        routes = self._dynamic.get(method)
        if not routes:
            return None
        parts = path.split("/")
        for segments, value in routes:
            if len(segments) == len(parts) and all(
                part if s is None else s == part for s, part in zip(segments, parts, strict=True)
            ):
                return value
        return None
