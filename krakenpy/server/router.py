"""Path routing with gin's behaviour (lura ``router/gin``): exact paths, ``{param}`` per segment,
static segments before parameters, trailing-slash and fixed-path (case, ``//``, dot segments)
redirect candidates, and "path known with another method" for 405s.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Handler", "Match", "Router"]

#: (aiohttp request, parameter values in declared order) → response
Handler: TypeAlias = Callable[[Any, tuple[str, ...]], Awaitable[Any]]
_PARAM = re.compile(r"^\{([^}]+)\}$")


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    lower: dict[str, str] = field(default_factory=dict)
    param: _Node | None = None
    methods: dict[str, Handler] = field(default_factory=dict)
    #: the path template as declared (``/users/{id}``), once a route ends here
    template: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    methods: dict[str, Handler]
    values: tuple[str, ...]
    #: the matched path template (``/users/{id}``): the route label for logs and metrics
    template: str = ""


class Router:
    """Routes are added once at startup; :meth:`match` is the per-request lookup."""

    def __init__(self) -> None:
        self._root = _Node()
        #: static paths → a Match built once (the methods dict is shared and filled by later adds)
        self._static: dict[str, Match] = {}

    def add(self, path: str, method: str, handler: Handler) -> None:
        node = self._root
        dynamic = False
        for segment in path.split("/")[1:]:
            if _PARAM.match(segment):
                dynamic = True
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                child = node.static.get(segment)
                if child is None:
                    child = node.static[segment] = _Node()
                    node.lower.setdefault(segment.lower(), segment)
                node = child
        node.methods[method] = handler
        node.template = node.template or path
        if not dynamic and path not in self._static:
            self._static[path] = Match(node.methods, (), path)

    def match(self, path: str) -> Match | None:
        """Exact lookup: the handlers of the path (any method) and the parameter values."""
        found = self._static.get(path)
        if found is not None:
            return found
        values: list[str] = []
        node = self._walk(self._root, path.split("/")[1:], 0, values)
        return Match(node.methods, tuple(values), node.template) if node is not None else None

    def _walk(self, node: _Node, segments: list[str], i: int, values: list[str]) -> _Node | None:
        if i == len(segments):
            return node if node.methods else None
        segment = segments[i]
        child = node.static.get(segment)
        if child is not None:
            found = self._walk(child, segments, i + 1, values)
            if found is not None:
                return found
        if node.param is not None and segment:
            values.append(segment)
            found = self._walk(node.param, segments, i + 1, values)
            if found is not None:
                return found
            values.pop()
        return None

    def redirect_target(self, path: str, method: str, *, trailing_slash: bool, fixed_path: bool) -> str | None:
        """Where gin would redirect a path that does not match (``None``: no redirect)."""
        if path == "/":
            return None
        if trailing_slash:
            other = path[:-1] if path.endswith("/") else path + "/"
            found = self.match(other)
            if found is not None and method in found.methods:
                return other
        if fixed_path:
            cleaned = posixpath.normpath(re.sub(r"/{2,}", "/", path))
            if path.endswith("/") and cleaned != "/":
                cleaned += "/"
            fixed = self._case_insensitive(cleaned, method)
            if fixed is None and trailing_slash:
                alt = cleaned[:-1] if cleaned.endswith("/") else cleaned + "/"
                fixed = self._case_insensitive(alt, method)
            if fixed is not None and fixed != path:
                return fixed
        return None

    def _case_insensitive(self, path: str, method: str) -> str | None:
        out: list[str] = []

        def walk(node: _Node, segments: list[str], i: int) -> bool:
            if i == len(segments):
                return method in node.methods
            segment = segments[i]
            key = node.static.get(segment) and segment or node.lower.get(segment.lower())
            if key is not None:
                out.append(key)
                if walk(node.static[key], segments, i + 1):
                    return True
                out.pop()
            if node.param is not None and segment:
                out.append(segment)
                if walk(node.param, segments, i + 1):
                    return True
                out.pop()
            return False

        if walk(self._root, path.split("/")[1:], 0):
            return "/" + "/".join(out)
        return None
