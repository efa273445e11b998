"""``request`` (proxy and backend levels): the pipeline request of ``request.load()``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from krakenpy.lua.api import headers
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind, key_str, text
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Request

__all__ = ["methods", "shared"]


def shared(store: Store) -> Methods:
    """The methods ``request`` and ``ctx`` have in common: ``method``, ``headers``, ``headerList``, ``body``."""
    objects = store.objects

    def method(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.method.encode()
        h.method = text(v)
        return None

    def headers_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        return headers.get_or_set(store, h.headers, n, k, v)

    def header_list(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        return headers.list_get_or_set(store, h.headers, n, k, v)

    def body(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.body
        h.body = v if isinstance(v, bytes) else text(v).encode()
        return None

    return {b"method": method, b"headers": headers_, b"headerList": header_list, b"body": body}


def methods(store: Store) -> Methods:
    """``method``, ``path``, ``url``, ``query``, ``params``, ``headers``, ``headerList``, ``body``."""
    objects, ref = store.objects, store.ref

    def path(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.path.encode()
        h.path = text(v)
        return None

    def url(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.url.encode()
        h.url = text(v)
        return None

    def query(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:  # Go's url.Values.Encode: no leading "?", keys sorted
            return Kind.PLAIN, encode_query(h.query).encode()
        h.query = parse_qs(text(v), keep_blank_values=True)
        return None

    def params(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.TABLE, ref(h.params)
        if n == 1:
            return Kind.PLAIN, h.params.get(key_str(k), "").encode()
        h.params[key_str(k)] = text(v)
        return None

    return {b"path": path, b"url": url, b"query": query, b"params": params, **shared(store)}
