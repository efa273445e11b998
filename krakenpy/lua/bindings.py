"""The Python side of the KrakenD Lua API: ``request``/``ctx``/``response`` accessors, ``luaTable``,
``luaList``, ``http_response`` objects and the JSON/base64 batteries.

Every accessor is called from prelude.lua as ``f(id, nargs, ...)`` and returns ``(kind, value)``
(see :class:`~krakenpy.lua.convert.Kind`); ``id`` names the object in :mod:`krakenpy.lua.handles`
(Lua never holds the object itself), and so does the value of a ``TABLE``/``LIST`` result.
``nargs`` tells a getter (``headers("A")``) from a delete (``headers("A", nil)``). User mistakes
come back as ``(Kind.ERROR, message)`` so Lua raises them at the script's line.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import orjson

from krakenpy.errors import BackendError, PipelineError
from krakenpy.lua.convert import ARRAY, NULL, OBJECT, Kind, Mode, from_lua, key_str, text, to_lua
from krakenpy.lua.handles import Handles
from krakenpy.names import canonical_header, capitalize
from krakenpy.proxy.request_builder import encode_query
from krakenpy.proxy.types import Headers, Request, Response

__all__ = ["Bindings", "HttpResult", "PostState", "header_name"]

log = logging.getLogger("krakenpy.lua")

NEED_ARGS = (Kind.ERROR, b"need arguments")
NOT_A_LIST = (Kind.ERROR, b"invalid header value, must be a luaList")
Result = tuple[int, Any] | tuple[int, Any, Any] | None


@dataclass(slots=True)
class PostState:
    """What a ``post`` script sees: the response, and the error of the next layer if it failed."""

    response: Response
    error: BaseException | None = None
    #: the script set a status or ``isComplete(true)``: it answered for the failed layer
    handled: bool = False


@dataclass(slots=True)
class HttpResult:
    """An ``http_response.new`` answer."""

    status: int
    headers: Headers = field(default_factory=dict)
    body: bytes = b""


def error_status(error: BaseException) -> int:
    """The status a script sees for a failed layer: the backend's own, else the error's."""
    if isinstance(error, BackendError) and error.backend_status:
        return error.backend_status
    return error.status if isinstance(error, PipelineError) else 500


#: raw header names as scripts write them (Lua strings) → canonical names; bounded, reset when full
_HEADER_NAMES: dict[bytes, str] = {}
_HEADER_NAMES_MAX: Final = 1024


def header_name(k: Any) -> str:
    """``header_name(k)``, cached for Lua strings (scripts repeat the same few names)."""
    if type(k) is not bytes:
        return header_name(k)
    name = _HEADER_NAMES.get(k)
    if name is None:
        if len(_HEADER_NAMES) >= _HEADER_NAMES_MAX:
            _HEADER_NAMES.clear()
        name = _HEADER_NAMES[k] = canonical_header(k.decode("utf-8", "surrogateescape"))
    return name


def _first(headers: Headers, name: str) -> bytes:
    values = headers.get(name)
    return values[0].encode("utf-8", "surrogateescape") if values else b""


class Bindings:
    """Accessors bound to one runtime (its handle table and object ids, for luaTable/luaList arguments)."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles) -> None:
        self._lua = lua
        self._nil = nil
        self._ref = objects.ref
        self._objects = objects.objects
        # lookups go through Lua functions: lupa 2.8 mis-reads ``table[lua_object]`` from Python
        # while a coroutine is running (it returns the thread along with the value)
        self._lookup, self._mark = lua.eval(
            b"function(H) return function(k) return H[k] end, function(t, tag) H[t] = tag end end"
        )(handles)

    def table(self) -> dict[bytes, Any]:
        """Everything prelude.lua calls, by name."""
        names = [n for n in dir(self) if n[:2] in ("t_", "l_", "r_", "c_", "p_", "h_")]
        out: dict[bytes, Any] = {n.encode("utf-8", "surrogateescape"): getattr(self, n) for n in names}
        out.update(
            {
                b"NULL": NULL,
                b"ARRAY": ARRAY,
                b"OBJECT": OBJECT,
                b"new_dict": lambda: self._ref({}),
                b"new_list": lambda: self._ref([]),
                b"print": lambda line: log.info("lua: %s", text(line)),
                b"now": time.monotonic,
                b"json_encode": self.json_encode,
                b"json_decode": self.json_decode,
                b"b64encode": lambda s: base64.b64encode(
                    s if isinstance(s, bytes) else text(s).encode("utf-8", "surrogateescape")
                ),
                b"b64decode": self.b64decode,
            }
        )
        return out

    def value(self, v: Any, mode: Mode = Mode.TOP) -> Any:
        return from_lua(v, self._handle, mode)

    def _handle(self, t: Any) -> Any:
        """The object behind a Lua table: a luaTable/luaList's dict or list, a marker, or None."""
        h = self._lookup(t)
        return self._objects[h] if type(h) is int else h

    def _list(self, v: Any) -> list[Any] | None:
        handle = self._handle(v) if v is not None and not isinstance(v, bytes | int | float | bool) else None
        return handle if isinstance(handle, list) else None

    # luaTable ----------------------------------------------------------------------------------------
    def t_get(self, ref: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        key = key_str(k)
        return to_lua(h[key], self._ref) if key in h else None

    def t_set(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: dict[str, Any] = self._objects[ref]
        if n < 2:
            return NEED_ARGS
        if v is not None:  # KrakenD ignores a nil value
            key = k.decode("utf-8", "surrogateescape") if type(k) is bytes else key_str(k)
            h[key] = v if v is True or v is False or type(v) is int else self.value(v)  # fast path for scalars
        return None

    def t_len(self, ref: int, n: int) -> Result:
        h: dict[str, Any] = self._objects[ref]
        return Kind.PLAIN, len(h)

    def t_del(self, ref: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        h.pop(key_str(k), None)
        return None

    def t_keys(self, ref: int, n: int) -> Result:
        h: dict[str, Any] = self._objects[ref]
        return Kind.LIST, self._ref(sorted(h))

    def t_has(self, ref: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        return Kind.PLAIN, key_str(k) in h

    # luaList (0-based) -----------------------------------------------------------------------------
    def l_get(self, ref: int, n: int, i: Any = None) -> Result:
        h: list[Any] = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        index = _index(i)
        return to_lua(h[index], self._ref) if index is not None and 0 <= index < len(h) else None

    def l_set(self, ref: int, n: int, i: Any = None, v: Any = None) -> Result:
        h: list[Any] = self._objects[ref]
        if n < 2:
            return NEED_ARGS
        index = _index(i)
        if index is None or index < 0:
            return None
        if index >= len(h):  # grows with nulls (set(len, v) appends)
            h.extend([None] * (index + 1 - len(h)))
        h[index] = self.value(v, Mode.NESTED)
        return None

    def l_len(self, ref: int, n: int) -> Result:
        h: list[Any] = self._objects[ref]
        return Kind.PLAIN, len(h)

    def l_del(self, ref: int, n: int, i: Any = None) -> Result:
        h: list[Any] = self._objects[ref]
        index = _index(i)
        if index is not None and 0 <= index < len(h):
            del h[index]
        return None

    # request (proxy/backend) and ctx (router) ------------------------------------------------------------
    def r_method(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.method.encode("utf-8", "surrogateescape")
        h.method = text(v)
        return None

    def r_path(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.path.encode("utf-8", "surrogateescape")
        h.path = text(v)
        return None

    def r_url(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.url.encode("utf-8", "surrogateescape")
        h.url = text(v)
        return None

    def r_query(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:  # Go's url.Values.Encode: no leading "?", keys sorted
            return Kind.PLAIN, encode_query(h.query).encode("utf-8", "surrogateescape")
        h.query = parse_qs(text(v), keep_blank_values=True, errors="surrogateescape")
        return None

    def r_params(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.TABLE, self._ref(h.params)
        if n == 1:
            return Kind.PLAIN, h.params.get(key_str(k), "").encode("utf-8", "surrogateescape")
        h.params[key_str(k)] = text(v)
        return None

    def r_headers(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        return self._headers(h.headers, n, k, v, canonical=True)

    def r_header_list(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        return self._header_list(h.headers, n, k, v)

    def r_body(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.body
        h.body = v if isinstance(v, bytes) else text(v).encode("utf-8", "surrogateescape")
        return None

    def c_url(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            query = urlencode([(k, x) for k, xs in h.query.items() for x in xs], quote_via=quote)
            return Kind.PLAIN, (h.path + "?" + query if query else h.path).encode("utf-8", "surrogateescape")
        parts = urlsplit(text(v))
        h.path = parts.path or h.path
        h.query = parse_qs(parts.query, keep_blank_values=True, errors="surrogateescape")
        return None

    def c_host(self, ref: int, n: int, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.host.encode("utf-8", "surrogateescape")
        h.host = text(v)
        return None

    def c_query(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        if n == 0:
            return NEED_ARGS
        key = key_str(k)
        if n == 1:
            values = h.query.get(key)
            return Kind.PLAIN, values[0].encode("utf-8", "surrogateescape") if values else b""
        if v is None:
            h.query.pop(key, None)
        else:
            h.query[key] = [text(v)]
        return None

    def c_params(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = self._objects[ref]
        # router level: the parameters as declared in the endpoint path (lower case)
        raw: dict[str, str] = h.context.setdefault("raw_params", {})
        if n == 0:
            return Kind.TABLE, self._ref(dict(raw))
        key = key_str(k)
        if n == 1:
            return Kind.PLAIN, raw.get(key, "").encode("utf-8", "surrogateescape")
        raw[key] = h.params[capitalize(key)] = text(v)
        return None

    # response (post) -------------------------------------------------------------------------------------
    def p_complete(self, ref: int, n: int, v: Any = None) -> Result:
        h: PostState = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.response.is_complete
        h.response.is_complete = bool(v)
        h.handled = h.handled or bool(v)
        return None

    def p_status(self, ref: int, n: int, v: Any = None) -> Result:
        h: PostState = self._objects[ref]
        response = h.response
        if n == 0:
            return Kind.PLAIN, response.override_status or response.status
        status = _index(v)
        if status is None:
            return Kind.ERROR, b"statusCode needs a number"
        # krakenpy: the status reaches the client on every encoding (KrakenD: no-op only)
        response.status = response.override_status = status
        h.handled = True
        return None

    def p_headers(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = self._objects[ref]
        response = h.response
        if n == 1:  # KrakenD looks the raw key up; Go had canonicalised it already
            key = key_str(k)
            values = response.headers.get(key) or response.headers.get(header_name(k))
            return Kind.PLAIN, values[0].encode("utf-8", "surrogateescape") if values else b""
        result = self._headers(response.headers, n, k, v, canonical=True)
        if n >= 2:
            _override(response, header_name(k))
        return result

    def p_header_list(self, ref: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: PostState = self._objects[ref]
        result = self._header_list(h.response.headers, n, k, v)
        if n >= 2 and result is None:
            _override(h.response, header_name(k))
        return result

    def p_body(self, ref: int, n: int, v: Any = None) -> Result:
        h: PostState = self._objects[ref]
        if n == 0:
            return Kind.PLAIN, h.response.body or b""
        h.response.body = v if isinstance(v, bytes) else text(v).encode("utf-8", "surrogateescape")
        return None

    def p_error(self, ref: int, n: int) -> Result:
        """krakenpy: ``msg, status = response.load():error()`` (nil when the next layer succeeded)."""
        h: PostState = self._objects[ref]
        if h.error is None:
            return None
        return Kind.MULTI, str(h.error).encode("utf-8", "surrogateescape"), error_status(h.error)

    # http_response ------------------------------------------------------------------------------------
    def h_status(self, ref: int, n: int) -> Result:
        h: HttpResult = self._objects[ref]
        return Kind.PLAIN, h.status

    def h_headers(self, ref: int, n: int, k: Any = None) -> Result:
        h: HttpResult = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        return Kind.PLAIN, _first(h.headers, header_name(k))

    def h_header_list(self, ref: int, n: int, k: Any = None) -> Result:
        h: HttpResult = self._objects[ref]
        if n < 1:
            return NEED_ARGS
        return Kind.LIST, self._ref(list(h.headers.get(header_name(k), [])))

    def h_body(self, ref: int, n: int) -> Result:
        h: HttpResult = self._objects[ref]
        return Kind.PLAIN, h.body

    def h_close(self, ref: int, n: int) -> Result:
        return None

    # shared header logic -------------------------------------------------------------------------------
    def _headers(self, headers: Headers, n: int, k: Any, v: Any, *, canonical: bool) -> Result:
        if n == 0:
            return Kind.TABLE, self._ref({name: list(values) for name, values in headers.items()})
        name = header_name(k)
        if n == 1:
            return Kind.PLAIN, _first(headers, name)
        if v is None:
            headers.pop(name, None)
        else:
            headers[name] = [v.decode("utf-8", "surrogateescape") if type(v) is bytes else text(v)]
        return None

    def _header_list(self, headers: Headers, n: int, k: Any, v: Any) -> Result:
        if n == 0:
            return NEED_ARGS
        name = header_name(k)
        if n == 1:
            return Kind.LIST, self._ref(list(headers.get(name, [])))
        values = self._list(v)
        if values is None:
            return NOT_A_LIST
        headers[name] = [text(x) if not isinstance(x, str) else x for x in values]
        return None

    # batteries ----------------------------------------------------------------------------------------
    def json_encode(self, v: Any) -> Result:
        try:
            return Kind.PLAIN, orjson.dumps(self.value(v, Mode.JSON))
        except (TypeError, ValueError) as exc:
            return Kind.ERROR, f"json.encode: {exc}".encode("utf-8", "surrogateescape")

    def json_decode(self, s: Any) -> Result:
        try:
            data = orjson.loads(s if isinstance(s, bytes) else text(s))
        except orjson.JSONDecodeError as exc:
            return Kind.ERROR, f"json.decode: {exc}".encode("utf-8", "surrogateescape")
        return Kind.PLAIN, self._plain(data, 0)

    def _plain(self, value: Any, depth: int) -> Any:
        """Decoded JSON as plain Lua tables (arrays 1-based and marked, so they encode back as arrays)."""
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if value is None:
            return self._nil
        if depth > 64:
            raise ValueError("json.decode: nested too deeply")
        if isinstance(value, dict):
            table = self._lua.table()
            for k, v in value.items():
                table[k.encode("utf-8", "surrogateescape")] = self._plain(v, depth + 1)
            self._mark(table, OBJECT)
            return table
        if isinstance(value, list):
            table = self._lua.table()
            for i, v in enumerate(value, 1):
                table[i] = self._plain(v, depth + 1)
            self._mark(table, ARRAY)
            return table
        return value

    @staticmethod
    def b64decode(s: Any) -> bytes | None:
        try:
            return base64.b64decode(s if isinstance(s, bytes) else text(s), validate=False)
        except (binascii.Error, ValueError):
            return None


def _index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes) and value.strip().lstrip(b"-").isdigit():
        return int(value)
    return None


def _override(response: Response, name: str) -> None:
    """Record a header change so it reaches the client (an empty list deletes it)."""
    if response.override_headers is None:
        response.override_headers = {}
    response.override_headers[name] = list(response.headers.get(name, []))


Accessor = Callable[..., Result]
