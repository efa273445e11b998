"""``http_response``: the answer of an ``http_response.new`` call (performed by :mod:`krakenpy.lua.http`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from krakenpy.lua.api import headers
from krakenpy.lua.api.args import bad_arg
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import Kind
from krakenpy.proxy.types import Headers

__all__ = ["HttpResult", "methods"]


@dataclass(slots=True)
class HttpResult:
    """An ``http_response.new`` answer."""

    status: int
    headers: Headers = field(default_factory=dict)
    body: bytes = b""


def methods(store: Store) -> Methods:
    """``statusCode``, ``headers``, ``headerList``, ``body``, ``close``."""
    objects, ref = store.objects, store.ref

    def status_code(id_: int, n: int) -> Result:
        h: HttpResult = objects[id_]
        return Kind.PLAIN, h.status

    def headers_(id_: int, n: int, k: Any = None) -> Result:
        h: HttpResult = objects[id_]
        if n < 1:
            return NEED_ARGS
        name = headers.header_name(k)
        if name is None:
            return bad_arg(store, 1, "headers", "string", k)
        return Kind.PLAIN, headers.first(h.headers, name)

    def header_list(id_: int, n: int, k: Any = None) -> Result:
        h: HttpResult = objects[id_]
        if n < 1:
            return NEED_ARGS
        name = headers.header_name(k)
        if name is None:
            return bad_arg(store, 1, "headerList", "string", k)
        return Kind.LIST, ref(list(h.headers.get(name, [])))

    def body(id_: int, n: int) -> Result:
        h: HttpResult = objects[id_]
        return Kind.PLAIN, h.body

    def close(id_: int, n: int) -> Result:
        return None

    return {
        b"statusCode": status_code,
        b"headers": headers_,
        b"headerList": header_list,
        b"body": body,
        b"close": close,
    }
