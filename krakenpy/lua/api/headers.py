"""Header names and the header accessors request, ctx and response share."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.lua.api.store import NEED_ARGS, Result, Store
from krakenpy.lua.convert import Kind, text
from krakenpy.names import canonical_header
from krakenpy.proxy.types import Headers

__all__ = ["first", "get_or_set", "header_name", "list_get_or_set"]

NOT_A_LIST: Final = (Kind.ERROR, b"invalid header value, must be a luaList")

#: raw header names as scripts write them (Lua strings) → canonical names; bounded, reset when full
_HEADER_NAMES: dict[bytes, str] = {}
_HEADER_NAMES_MAX: Final = 1024


def header_name(k: Any) -> str:
    """``canonical_header(k)``, cached for Lua strings (scripts repeat the same few names)."""
    if type(k) is not bytes:
        return header_name(k)
    name = _HEADER_NAMES.get(k)
    if name is None:
        if len(_HEADER_NAMES) >= _HEADER_NAMES_MAX:
            _HEADER_NAMES.clear()
        name = _HEADER_NAMES[k] = canonical_header(k.decode("utf-8", "replace"))
    return name


def first(headers: Headers, name: str) -> bytes:
    """The first value of a header, or an empty string."""
    values = headers.get(name)
    return values[0].encode() if values else b""


def get_or_set(store: Store, headers: Headers, n: int, k: Any, v: Any) -> Result:
    """``headers()`` / ``headers(k)`` / ``headers(k, v)`` / ``headers(k, nil)`` on one header map."""
    if n == 0:
        return Kind.TABLE, store.ref({name: list(values) for name, values in headers.items()})
    name = header_name(k)
    if n == 1:
        return Kind.PLAIN, first(headers, name)
    if v is None:
        headers.pop(name, None)
    else:
        headers[name] = [v.decode("utf-8", "replace") if type(v) is bytes else text(v)]
    return None


def list_get_or_set(store: Store, headers: Headers, n: int, k: Any, v: Any) -> Result:
    """``headerList(k)`` / ``headerList(k, luaList)`` on one header map."""
    if n == 0:
        return NEED_ARGS
    name = header_name(k)
    if n == 1:
        return Kind.LIST, store.ref(list(headers.get(name, [])))
    values = store.list_of(v)
    if values is None:
        return NOT_A_LIST
    headers[name] = [text(x) if not isinstance(x, str) else x for x in values]
    return None
