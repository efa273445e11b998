"""Path routing with gin's behaviour (lura ``router/gin``): exact paths, ``{param}`` per segment,
a trailing catch-all (``/__debug/*param``), static segments before parameters with backtracking,
one tree per method (a path can be a static route for POST and a parameter route for GET), the
methods a path is known with (405 and its ``Allow`` header, in gin's tree order) and the
trailing-slash and fixed-path (case, ``//``, dot segments) redirect candidates.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Handler", "Match", "Router", "clean_path"]

#: (edge request, parameter values in declared order) → response
Handler: TypeAlias = Callable[[Any, tuple[str, ...]], Awaitable[Any]]
_PARAM = re.compile(r"^\{([^}]+)\}$")
_SLASHES = re.compile(r"/{2,}")


def clean_path(path: str) -> str:
    """Go's ``path.Clean`` for a rooted path, keeping a trailing slash (gin's ``cleanPath``)."""
    cleaned = posixpath.normpath(_SLASHES.sub("/", path or "/"))
    if not cleaned.startswith("/"):
        cleaned = "/" + cleaned.lstrip("./")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    lower: dict[str, str] = field(default_factory=dict)
    param: _Node | None = None
    #: a catch-all below this node (``/prefix/*rest``): its handlers, any remaining segments
    catch: _Node | None = None
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
        #: methods in the order they got their first route (gin's tree order, for ``Allow``)
        self.method_order: list[str] = []

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
        self._known(method)
        if not dynamic and path not in self._static:
            self._static[path] = Match(node.methods, (), path)

    def add_catch_all(self, prefix: str, methods: Iterable[str], handler: Handler) -> None:
        """``prefix`` (``/__debug/``) followed by anything, for each of ``methods``; the value is the
        rest of the path with its leading slash (gin's ``*param``)."""
        node = self._root
        for segment in prefix.rstrip("/").split("/")[1:]:
            child = node.static.get(segment)
            if child is None:
                child = node.static[segment] = _Node()
                node.lower.setdefault(segment.lower(), segment)
            node = child
        if node.catch is None:
            node.catch = _Node(template=prefix)
        for method in methods:
            node.catch.methods[method] = handler
            self._known(method)

    def _known(self, method: str) -> None:
        if method not in self.method_order:
            self.method_order.append(method)

    def static(self, path: str) -> Match | None:
        """The static route at exactly ``path`` (every method), or ``None``: one dict lookup."""
        return self._static.get(path)

    def match(self, path: str, method: str) -> Match | None:
        """The route of ``method`` for ``path`` (static segments first, backtracking to parameters),
        with the parameter values; ``None`` when the method has no route for it."""
        found = self._static.get(path)
        if found is not None and method in found.methods:
            return found
        values: list[str] = []
        node = self._walk(self._root, path.split("/")[1:], 0, values, method)
        return Match(node.methods, tuple(values), node.template) if node is not None else None

    def allowed(self, path: str) -> list[str]:
        """The methods ``path`` has a route for, in :attr:`method_order` (a 405's ``Allow``)."""
        return [m for m in self.method_order if self.match(path, m) is not None]

    def _walk(self, node: _Node, segments: list[str], i: int, values: list[str], method: str) -> _Node | None:
        if i == len(segments):
            return node if method in node.methods else None
        segment = segments[i]
        child = node.static.get(segment)
        if child is not None:
            found = self._walk(child, segments, i + 1, values, method)
            if found is not None:
                return found
        if node.param is not None and segment:
            values.append(segment)
            found = self._walk(node.param, segments, i + 1, values, method)
            if found is not None:
                return found
            values.pop()
        if node.catch is not None and method in node.catch.methods:
            values.append("/" + "/".join(segments[i:]))
            return node.catch
        return None

    def redirect_target(self, path: str, method: str, *, trailing_slash: bool, fixed_path: bool) -> str | None:
        """Where gin would redirect a path that does not match (``None``: no redirect), before the
        ``X-Forwarded-Prefix`` and cleaning steps of the redirect itself."""
        if path == "/":
            return None
        if trailing_slash:
            other = path[:-1] if path.endswith("/") else path + "/"
            if self.match(other, method) is not None:
                return other
        if fixed_path:
            cleaned = clean_path(path)
            fixed = self._case_insensitive(cleaned, method)
            if fixed is None:  # gin fixes the trailing slash here too (RedirectFixedPath is passed as the flag)
                alt = cleaned[:-1] if cleaned.endswith("/") and cleaned != "/" else cleaned + "/"
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
