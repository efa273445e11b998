"""``response`` (``post`` at the proxy and backend levels): the next layer's answer, or its failure."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.errors import BackendError, PipelineError
from krakenpy.lua.api import headers
from krakenpy.lua.api.args import bad_arg, boolean_arg, error, integer_arg, string_arg
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind
from krakenpy.proxy.types import Response

__all__ = ["SCRIPT_FAULT", "PostState", "error_status", "methods"]

#: the status of a response value that cannot be sent (it came from the backend or the script)
SCRIPT_FAULT: Final = 500


class PostState:
    """What a ``post`` script sees: the response, and the error of the next layer if it failed.

    A plain class, not a dataclass: compiled by mypyc, a dataclass keeps the ``__init__`` the
    dataclasses module generates, interpreted (~1.4 k machine instructions per request, callgrind;
    a native constructor is ~0.1 k)."""

    def __init__(self, response: Response, error: BaseException | None = None) -> None:
        self.response = response
        self.error = error
        #: the script set a status or ``isComplete(true)``: it answered for the failed layer
        self.handled = False


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
        flag = boolean_arg(v)
        if flag is None:
            return bad_arg(store, 1, "isComplete", "boolean", v)
        h.response.is_complete = flag
        h.handled = h.handled or flag
        return None

    def status_code(id_: int, n: int, v: Any = None) -> Result:
        h: PostState = objects[id_]
        response = h.response
        if n == 0:
            return Kind.PLAIN, response.override_status or response.status
        status = integer_arg(v)
        if status is None:
            return bad_arg(store, 1, "statusCode", "integer", v)
        if not 100 <= status <= 999:
            return error(f"statusCode: {status} is not an HTTP status (100-999)")
        # krakenpy: the status reaches the client on every encoding (KrakenD: no-op only)
        response.status = response.override_status = status
        h.handled = True
        return None

    def headers_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = objects[id_]
        response = h.response
        if n == 1:  # KrakenD looks the raw key up; Go had canonicalised it already
            key = string_arg(k)
            if key is None:
                return bad_arg(store, 1, "headers", "string", k)
            values = response.headers.get(key) or response.headers.get(headers.header_name(k) or key)
            return Kind.PLAIN, values[0].encode("utf-8", "surrogateescape") if values else b""
        result = headers.get_or_set(store, response.headers, n, k, v, SCRIPT_FAULT)
        if n >= 2 and result is None:
            _override(response, headers.token_name(k) or "")
        return result

    def header_list(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = objects[id_]
        result = headers.list_get_or_set(store, h.response.headers, n, k, v, SCRIPT_FAULT)
        if n >= 2 and result is None:
            _override(h.response, headers.token_name(k) or "")
        return result

    def body(id_: int, n: int, v: Any = None) -> Result:
        h: PostState = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.response.body or b""
        if type(v) is bytes:
            h.response.body = v
            return None
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 1, "body", "string", v)
        h.response.body = value.encode("utf-8", "surrogateescape")
        return None

    def error_(id_: int, n: int) -> Result:
        """krakenpy: ``msg, status = response.load():error()`` (nil when the next layer succeeded)."""
        h: PostState = objects[id_]
        if h.error is None:
            return None
        return Kind.MULTI, str(h.error).encode("utf-8", "surrogateescape"), error_status(h.error)

    return {
        b"isComplete": is_complete,
        b"statusCode": status_code,
        b"headers": headers_,
        b"headerList": header_list,
        b"body": body,
        b"error": error_,
    }
