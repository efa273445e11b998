"""``request`` (proxy and backend levels): the pipeline request of ``request.load()``.

Values a script writes into the request line or headers are checked: a method must be a token, a
path, URL or header value must be free of control characters. These values come from the client
in practice, so a bad one answers 400 (see :mod:`krakenpy.lua.api.headers`).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs

from krakenpy.backends.conntiming import EXCHANGE_VAR
from krakenpy.lua.api import headers
from krakenpy.lua.api.args import CTL, TOKEN, bad_arg, error, string_arg
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Request

__all__ = ["BAD_INPUT", "line_text", "methods", "shared"]

#: the status of a request value that cannot be sent (it came from the client)
BAD_INPUT: Final = 400
_exchange: Final = EXCHANGE_VAR.get


def line_text(v: Any, fname: str, store: Store) -> str | Result:
    """A string argument that goes into the request line: no control characters (CR, LF, NUL...)."""
    value = string_arg(v)
    if value is None:
        return bad_arg(store, 1, fname, "string", v)
    if CTL(value):
        return error(f"{fname}: control characters (CR, LF...) are not allowed", BAD_INPUT)
    return value


def shared(store: Store) -> Methods:
    """The methods ``request`` and ``ctx`` have in common: ``method``, ``headers``, ``headerList``, ``body``."""
    objects = store.objects

    def method(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.method.encode("utf-8", "surrogateescape")
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 1, "method", "string", v)
        if not TOKEN(value):
            return error(f"method: invalid HTTP method {value[:40]!r}", BAD_INPUT)
        h.method = value
        return None

    known = headers.KNOWN_NAMES

    def headers_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        if (
            n == 2 and type(v) is bytes and type(k) is bytes
        ):  # setting a header a script set before: get_or_set's path, inline
            name = known.get(k)
            if name is not None:
                value = v.decode("utf-8", "surrogateescape")
                if value.isprintable():  # else get_or_set refuses control characters
                    h.headers[name] = [value]
                    return None
        return headers.get_or_set(store, h.headers, n, k, v, BAD_INPUT)

    def header_list(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        return headers.list_get_or_set(store, h.headers, n, k, v, BAD_INPUT)

    def body(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            # README (Redaction): a script that reads the body may print its fields: the texts written
            # about the request from now on mask its masked fields' values (worked out only when one
            # is written), as they do once a failure handed the body over
            exchange = _exchange()
            if exchange is not None and h.body:
                exchange.note_body(h.body)
            return Kind.PLAIN, h.body
        if type(v) is bytes:
            h.body = v
            return None
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 1, "body", "string", v)
        h.body = value.encode("utf-8", "surrogateescape")
        return None

    return {b"method": method, b"headers": headers_, b"headerList": header_list, b"body": body}


def methods(store: Store) -> Methods:
    """``method``, ``path``, ``url``, ``query``, ``params``, ``headers``, ``headerList``, ``body``."""
    objects, ref = store.objects, store.ref

    def path(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.path.encode("utf-8", "surrogateescape")
        value = line_text(v, "path", store)
        if not isinstance(value, str):
            return value
        h.path = value
        return None

    def url(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.url.encode("utf-8", "surrogateescape")
        value = line_text(v, "url", store)
        if not isinstance(value, str):
            return value
        h.url = value
        return None

    def query(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:  # Go's url.Values.Encode: no leading "?", keys sorted
            return Kind.PLAIN, encode_query(h.query).encode("utf-8", "surrogateescape")
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 1, "query", "string", v)
        h.query = parse_qs(
            value, keep_blank_values=True, errors="surrogateescape"
        )  # values are encoded again when sent
        return None

    def params(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.TABLE, ref(h.params)
        key = string_arg(k)
        if key is None:
            return bad_arg(store, 1, "params", "string", k)
        if n == 1:
            return Kind.PLAIN, h.params.get(key, "").encode("utf-8", "surrogateescape")
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 2, "params", "string", v)
        h.params[key] = value  # percent-encoded when it goes into a URL
        return None

    return {b"path": path, b"url": url, b"query": query, b"params": params, **shared(store)}
