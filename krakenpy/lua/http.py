"""``http_response.new`` performed on the event loop with the gateway's upstream client, and the
``exit`` short-circuit response.

Both take header tables from scripts; a name must be an HTTP token and a value free of control
characters (a CR/LF would split the header), anything else is a Lua error at the script's line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import lupa.lua54 as lupa
import orjson

from krakenpy.lua.api.args import CTL, integer_arg, string_arg
from krakenpy.lua.api.headers import token_name
from krakenpy.lua.api.http_response import HttpResult
from krakenpy.lua.api.store import Store
from krakenpy.lua.convert import ARRAY, OBJECT, ConversionError, Mode, lua_number
from krakenpy.lua.errors import LuaExit
from krakenpy.names import USER_AGENT, canonical_header
from krakenpy.proxy.types import Headers

if TYPE_CHECKING:
    from krakenpy.backends.client import UpstreamClient

__all__ = ["exit_response", "perform"]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: ``exit`` headers OpenResty keeps one value of: lua-nginx-module's built-in single headers
#: (``ngx_http_lua_headers_out.c``, set with ``ngx_http_set_builtin_header`` or its Content-Type,
#: Content-Length, Location and Last-Modified variants: each element of a list overwrites the one before,
#: ngx.header's "only the last element in the Lua table will take effect"). Kong's ``exit`` sets its
#: headers through ngx.header: of a list, only the last element is sent. Any other name (Set-Cookie, Link,
#: Cache-Control, a custom header) is one line per element. (Content-Length is one of them too: never
#: taken, ``server.response.error_response`` sends none of this hop's framing.)
_SINGLE: Final = frozenset(
    {
        "accept-ranges",
        "content-encoding",
        "content-range",
        "content-type",
        "date",
        "e-tag",
        "etag",
        "expires",
        "last-modified",
        "location",
        "refresh",
        "server",
        "www-authenticate",
    }
)


def header_pairs(store: Store, table: Any, fname: str) -> list[tuple[str, str]]:
    """A header table (name → string, list or luaList; a luaTable too) as (name, value) pairs.

    Raises :class:`ValueError` with a message for the script.
    """
    if table is None:
        return []
    if lupa.lua_type(table) != "table":
        raise ValueError(f"{fname}: headers must be a table, got {store.typename(table)}")
    obj = store.handle(table)
    if obj is OBJECT or obj is ARRAY:  # a table json.decode made is a Lua table (its mark: how it encodes)
        obj = None
    if obj is not None and not isinstance(obj, dict):  # luaNil, a luaList, a request...
        raise ValueError(f"{fname}: headers must be a table, got {store.typename(table)}")
    items = obj.items() if isinstance(obj, dict) else table.items()
    pairs: list[tuple[str, str]] = []
    for key, raw in items:
        if isinstance(key, str):  # a luaTable's key
            key = key.encode("utf-8", "surrogateescape")
        # a number key is an array ({"v"}): a mistake, not a header named "1"
        name = token_name(key) if isinstance(key, bytes) else None
        if name is None:
            got = repr(key[:40]) if isinstance(key, bytes) else store.typename(key)
            raise ValueError(f"{fname}: invalid header name {got}")
        converted = raw if isinstance(obj, dict) else store.value(raw, Mode.NESTED)
        for value in converted if isinstance(converted, list) else [converted]:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"{fname}: the values of header {name} must be strings")
            text = value if isinstance(value, str) else lua_number(value)
            if CTL(text):
                raise ValueError(f"{fname}: invalid value for header {name}: control characters are not allowed")
            pairs.append((name, text))
    return pairs


async def perform(client: UpstreamClient, store: Store, args: Sequence[Any]) -> HttpResult:
    """Run ``http_response.new(url[, method, body[, headers]])``; errors raise ``ValueError``/``BackendError``.

    The call runs under the request's own deadline (the router's ``asyncio.timeout``).
    """
    count = args[0] if args and type(args[0]) is int else 0
    given = list(args[1:]) + [None] * 4
    url = string_arg(given[0])
    if url is None:
        raise ValueError(f"http_response.new: bad argument #1 (string expected, got {store.typename(given[0])})")
    if not url.startswith(("http://", "https://")) or CTL(url) or " " in url:
        raise ValueError(f"http_response.new: unsupported url {url[:200]!r}")
    method = "GET"
    if count >= 3 and given[1] is not None:
        text = string_arg(given[1])
        if text is None:
            raise ValueError(f"http_response.new: bad argument #2 (string expected, got {store.typename(given[1])})")
        method = text.upper()
    if method not in _METHODS:
        raise ValueError(f"http_response.new: unsupported method {method[:40]!r}")
    body = given[2] if count >= 3 else None
    if body is not None and type(body) is not bytes:
        text = string_arg(body)
        if text is None:
            raise ValueError(f"http_response.new: bad argument #3 (string expected, got {store.typename(body)})")
        body = text.encode("utf-8", "surrogateescape")
    headers = header_pairs(store, given[3], "http_response.new") if count == 4 else []
    if not any(name == "User-Agent" for name, _ in headers):
        headers.append(("User-Agent", USER_AGENT))
    upstream = await client.request(method, url, headers, body or None)
    result: Headers = {}
    for name, value in upstream.headers:
        result.setdefault(canonical_header(name), []).append(value)
    return HttpResult(status=upstream.status, headers=result, body=upstream.body)


def exit_response(store: Store, n: int, status: Any = None, body: Any = None, headers: Any = None) -> LuaExit:
    """``exit(status, body[, headers])`` checked and built while the script runs (errors are its own).

    A table body is JSON, a string body is sent as is. Raises :class:`ValueError` for the script.
    """
    code = integer_arg(status)
    if code is None or not 100 <= code <= 999:
        got = lua_number(status) if type(status) in (int, float) else store.typename(status)
        raise ValueError(f"exit: the status must be an integer between 100 and 999, got {got}")
    pairs = header_pairs(store, headers, "exit")
    content_type = "text/plain; charset=utf-8"
    if body is None:
        payload = ""
    elif type(body) is bytes:
        # the answer's body is text that is rendered as UTF-8: bytes that are not UTF-8 become U+FFFD
        payload = body.decode("utf-8", "replace")
    elif body is True or body is False:
        payload = "true" if body else "false"
    elif isinstance(body, int | float):
        payload = lua_number(body)
    else:
        try:
            payload = orjson.dumps(store.value(body, Mode.JSON)).decode()
        except (ConversionError, TypeError) as exc:
            raise ValueError(f"exit: {exc}") from None
        content_type = "application/json"
    for name, value in pairs:
        if name == "Content-Type":  # the last one (a list's last element, as OpenResty's)
            content_type = value
    return LuaExit(code, payload, content_type=content_type, headers=_sent(pairs))


def _sent(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The header lines an ``exit`` table sends besides Content-Type: a single-value name's last value
    (:data:`_SINGLE`), every value of any other (this hop's framing among them: the server's
    ``error_response`` drops those, for an ``exit`` as for any error)."""
    last = {name.lower(): i for i, (name, _) in enumerate(pairs)}
    sent: list[tuple[str, str]] = []
    for i, (name, value) in enumerate(pairs):
        key = name.lower()
        if key == "content-type" or (key in _SINGLE and last[key] != i):
            continue
        sent.append((name, value))
    return tuple(sent)
