"""``response`` (``post`` at the proxy and backend levels): the next layer's answer, or its failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from krakenpy.errors import BackendError, PipelineError
from krakenpy.lua.api import headers
from krakenpy.lua.api.args import index
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind, key_str, text
from krakenpy.proxy.types import Response

__all__ = ["PostState", "error_status", "methods"]


@dataclass(slots=True)
class PostState:
    """What a ``post`` script sees: the response, and the error of the next layer if it failed."""

    response: Response
    error: BaseException | None = None
    #: the script set a status or ``isComplete(true)``: it answered for the failed layer
    handled: bool = False


def error_status(error: BaseException) -> int:
    """The status a script sees for a failed layer: the backend's own, else the error's."""
    if isinstance(error, BackendError) and error.backend_status:
        return error.backend_status
    return error.status if isinstance(error, PipelineError) else 500


def _override(response: Response, name: str) -> None:
    """Record a header change so it reaches the client (an empty list deletes it)."""
    if response.override_headers is None:
        response.override_headers = {}
    response.override_headers[name] = list(response.headers.get(name, []))


def methods(store: Store) -> Methods:
    """``isComplete``, ``statusCode``, ``headers``, ``headerList``, ``body``, ``error`` (``data`` is Lua-side)."""
    objects = store.objects

    def is_complete(id_: int, n: int, v: Any = None) -> Result:
        h: PostState = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.response.is_complete
        h.response.is_complete = bool(v)
        h.handled = h.handled or bool(v)
        return None

    def status_code(id_: int, n: int, v: Any = None) -> Result:
        h: PostState = objects[id_]
        response = h.response
        if n == 0:
            return Kind.PLAIN, response.override_status or response.status
        status = index(v)
        if status is None:
            return Kind.ERROR, b"statusCode needs a number"
        # krakenpy: the status reaches the client on every encoding (KrakenD: no-op only)
        response.status = response.override_status = status
        h.handled = True
        return None

    def headers_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = objects[id_]
        response = h.response
        if n == 1:  # KrakenD looks the raw key up; Go had canonicalised it already
            key = key_str(k)
            values = response.headers.get(key) or response.headers.get(headers.header_name(k))
            return Kind.PLAIN, values[0].encode() if values else b""
        result = headers.get_or_set(store, response.headers, n, k, v)
        if n >= 2:
            _override(response, headers.header_name(k))
        return result

    def header_list(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = objects[id_]
        result = headers.list_get_or_set(store, h.response.headers, n, k, v)
        if n >= 2 and result is None:
            _override(h.response, headers.header_name(k))
        return result

    def body(id_: int, n: int, v: Any = None) -> Result:
        h: PostState = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.response.body or b""
        h.response.body = v if isinstance(v, bytes) else text(v).encode()
        return None

    def error(id_: int, n: int) -> Result:
        """krakenpy: ``msg, status = response.load():error()`` (nil when the next layer succeeded)."""
        h: PostState = objects[id_]
        if h.error is None:
            return None
        return Kind.MULTI, str(h.error).encode(), error_status(h.error)

    return {
        b"isComplete": is_complete,
        b"statusCode": status_code,
        b"headers": headers_,
        b"headerList": header_list,
        b"body": body,
        b"error": error,
    }
