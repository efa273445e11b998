"""``http_response.new`` performed on the event loop with the gateway's upstream client, and the
``exit`` short-circuit response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa
import orjson

from krakenpy.lua.bindings import Bindings, HttpResult, header_name
from krakenpy.lua.convert import Mode, text
from krakenpy.lua.errors import LuaExit
from krakenpy.names import USER_AGENT, canonical_header
from krakenpy.proxy.types import Headers

if TYPE_CHECKING:
    from krakenpy.backends.client import UpstreamClient

__all__ = ["exit_error", "perform"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _header_pairs(bindings: Bindings, table: Any) -> list[tuple[str, str]]:
    """A Lua header table (name → string, list or luaList) as (name, value) pairs."""
    if table is None or lupa.lua_type(table) != "table":
        return []
    pairs: list[tuple[str, str]] = []
    for name, value in table.items():
        converted = bindings.value(value, Mode.NESTED)
        values = converted if isinstance(converted, list) else [converted]
        pairs.extend((header_name(name), text(v)) for v in values if v is not None)
    return pairs


async def perform(client: UpstreamClient, bindings: Bindings, args: Sequence[Any]) -> HttpResult:
    """Run ``http_response.new(url[, method, body[, headers]])``; errors raise ``ValueError``/``BackendError``.

    The call runs under the request's own deadline (the router's ``asyncio.timeout``).
    """
    count = int(args[0]) if args else 0
    url = text(args[1]) if count >= 1 and len(args) > 1 else ""
    method = text(args[2]).upper() if count >= 3 and len(args) > 2 and args[2] is not None else "GET"
    body = args[3] if count >= 3 and len(args) > 3 else None
    headers = _header_pairs(bindings, args[4]) if count == 4 and len(args) > 4 else []
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"http_response.new: unsupported url {url!r}")
    if method not in _METHODS:
        raise ValueError(f"http_response.new: unsupported method {method!r}")
    if not any(name == "User-Agent" for name, _ in headers):
        headers.append(("User-Agent", USER_AGENT))
    payload = body if isinstance(body, bytes) else (text(body).encode() if body is not None else None)
    upstream = await client.request(method, url, headers, payload or None)
    result: Headers = {}
    for name, value in upstream.headers:
        result.setdefault(canonical_header(name), []).append(value)
    return HttpResult(status=upstream.status, headers=result, body=upstream.body)


def exit_error(bindings: Bindings, status: Any, body: Any, rest: Sequence[Any]) -> LuaExit:
    """``exit(status, body[, headers])``: a table body is JSON, a string body is sent as is."""
    headers = _header_pairs(bindings, rest[0] if rest else None)
    if body is None or isinstance(body, bytes | int | float | bool):
        payload = "" if body is None else text(body)
        content_type = "text/plain; charset=utf-8"
    else:
        payload = orjson.dumps(bindings.value(body, Mode.JSON)).decode()
        content_type = "application/json"
    for name, value in headers:
        if name == "Content-Type":
            content_type = value
    code = int(status) if isinstance(status, int | float) else 500
    return LuaExit(
        code, payload, content_type=content_type, headers=tuple(h for h in headers if h[0] != "Content-Type")
    )
