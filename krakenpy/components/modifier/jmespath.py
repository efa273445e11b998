"""``modifier/jmespath`` (endpoint and backend, KrakenD Enterprise field names): a JMESPath query
replaces the answer's data (endpoint: after the merge and the Lua ``post`` scripts; backend: after
the backend's filters and its Lua). A result that is not an object is wrapped as KrakenD wraps
other answers: an array under ``collection``, a string, number or boolean under ``content``; no
result (``null``) is an empty object. The expression is compiled once at start-up (``jmespath``, the
library botocore uses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "wrap"]

NAMESPACE: Final = "modifier/jmespath"
#: the most levels an expression's syntax tree nests: the interpreter recurses about two frames per
#: level on every request (``a|a|…``, ``!!…a``, ``a[][]…``, which the parser reads without recursing
#: that deep), so an expression past ~400 levels failed every request with a ``RecursionError``
MAX_DEPTH: Final = 200


def _parse(raw: Mapping[str, Any], site: Site) -> Any:
    import jmespath
    from jmespath.exceptions import JMESPathError

    expression = raw.get("expr")
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError([ConfigIssue(site.at("expr"), "a JMESPath expression is required")])
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError([ConfigIssue(site.at("expr"), f"not a JMESPath expression: {message}")]) from None
    except RecursionError:  # the parser recurses per nesting level: ~300 brackets exhaust the stack
        raise ConfigError([ConfigIssue(site.at("expr"), "nested too deeply for the JMESPath parser")]) from None
    if _depth(compiled.parsed) > MAX_DEPTH:
        message = f"nested too deeply for the JMESPath interpreter (more than {MAX_DEPTH} levels)"
        raise ConfigError([ConfigIssue(site.at("expr"), message)])
    return compiled


def _depth(tree: Mapping[str, Any]) -> int:
    """How many levels the parsed expression ``tree`` nests (walked without recursion)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in node.get("children", ()) if isinstance(child, Mapping))
    return deepest


def wrap(result: Any) -> dict[str, Any]:
    """The answer data for a query result."""
    if isinstance(result, dict):
        return result
    if result is None:
        return {}
    if isinstance(result, list):
        return {"collection": result}
    return {"content": result}


def _middleware(compiled: Any) -> Middleware:
    search = compiled.search

    def middleware(next_proxy: Proxy) -> Proxy:
        async def queried(request: Request) -> Response:
            response = await next_proxy(request)
            if response.body is None:  # a no-op answer has no data to query
                response.data = wrap(search(response.data))
            return response

        return queried

    return middleware


async def _build_proxy(compiled: Any, site: Site, resources: Resources) -> Middleware | None:
    return _middleware(compiled) if site.level == "endpoint" else None


async def _build_backend(compiled: Any, site: Site, resources: Resources) -> Middleware | None:
    return _middleware(compiled) if site.level == "backend" else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="a JMESPath query replaces the answer (after the merge, or one backend's answer)",
    proxy=_build_proxy,
    backend=_build_backend,
    edition="ee",
)
