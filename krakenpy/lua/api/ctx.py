"""``ctx`` (router level, ``modifier/lua-endpoint``): the client request before the input filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from krakenpy.lua.api import request
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import Kind, key_str, text
from krakenpy.names import capitalize
from krakenpy.proxy.types import Request

__all__ = ["methods"]


def methods(store: Store) -> Methods:
    """``method``, ``url``, ``host``, ``query``, ``params``, ``headers``, ``headerList``, ``body``."""
    objects, ref = store.objects, store.ref

    def url(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            query = urlencode([(k, x) for k, xs in h.query.items() for x in xs], quote_via=quote)
            return Kind.PLAIN, (h.path + "?" + query if query else h.path).encode()
        parts = urlsplit(text(v))
        h.path = parts.path or h.path
        h.query = parse_qs(parts.query, keep_blank_values=True)
        return None

    def host(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.host.encode()
        h.host = text(v)
        return None

    def query(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return NEED_ARGS
        key = key_str(k)
        if n == 1:
            values = h.query.get(key)
            return Kind.PLAIN, values[0].encode() if values else b""
        if v is None:
            h.query.pop(key, None)
        else:
            h.query[key] = [text(v)]
        return None

    def params(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        # router level: the parameters as declared in the endpoint path (lower case)
        raw: dict[str, str] = h.context.setdefault("raw_params", {})
        if n == 0:
            return Kind.TABLE, ref(dict(raw))
        key = key_str(k)
        if n == 1:
            return Kind.PLAIN, raw.get(key, "").encode()
        raw[key] = h.params[capitalize(key)] = text(v)
        return None

    return {b"url": url, b"host": host, b"query": query, b"params": params, **request.shared(store)}
