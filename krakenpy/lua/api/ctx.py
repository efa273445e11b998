"""``ctx`` (router level, ``modifier/lua-endpoint``): the client request before the input filters."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import SplitResult, parse_qs, quote, unquote, urlsplit

from krakenpy.lua.api import request
from krakenpy.lua.api.args import bad_arg, error, string_arg
from krakenpy.lua.api.request import BAD_INPUT, line_text
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import Kind
from krakenpy.names import capitalize
from krakenpy.proxy.request_builder import encode_query, query_changed
from krakenpy.proxy.types import CLIENT_TARGET, Request

__all__ = ["escaped_path", "methods"]

#: the bytes besides letters, digits and ``-_.~`` that Go's ``URL.EscapedPath`` leaves as they are
_PATH_SAFE: Final = "$&+,/:;=@"
#: a ``%`` that does not start an escape (two hex digits)
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})").search


def escaped_path(path: str) -> str:
    """A decoded path as Go's ``URL.EscapedPath`` writes it: ``é`` as ``%C3%A9``, NUL as ``%00``, a
    space as ``%20``, ``?`` as ``%3F``; a client's byte that was no UTF-8 (a surrogate escape) as it came.
    The path ``*`` (``ctx:url("*")``) stays ``*``, as Go writes it (its issue 11202), not ``%2A``."""
    if path == "*":
        return path
    return quote(path, safe=_PATH_SAFE, errors="surrogateescape")


def _refused(value: str, parts: SplitResult) -> str | None:
    """Why Go's ``url.Parse`` refuses ``value`` (split as ``parts``), where :func:`urlsplit` takes it: a
    ``%`` starting no escape in the path or the fragment (the fragment is not kept, but Go reads it),
    no scheme before a leading ``:``, a colon in a relative path's first segment (``a_b:c``), a port
    after the host that is not digits (``h:abc``, ``[::1]x``; an empty one is taken)."""
    for part in (parts.path, parts.fragment):
        bad = _BAD_ESCAPE(part)
        if bad is not None:
            return f'invalid URL escape "{part[bad.start() : bad.start() + 3]}"'
    if value.startswith(":"):
        return "missing protocol scheme"
    path = parts.path
    if not parts.scheme and not parts.netloc and not path.startswith("/") and ":" in path.partition("/")[0]:
        return "first path segment in URL cannot contain colon"
    return _bad_port(parts.netloc)


def _bad_port(netloc: str) -> str | None:
    """Go's ``parseHost``: what follows the host (after the user information, up to the last ``@``;
    after a bracketed IPv6 host's ``]``) must be empty or ``:`` and ASCII digits."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        colon_port = host[host.rfind("]") + 1 :]
    else:
        at = host.rfind(":")
        colon_port = host[at:] if at >= 0 else ""
    port = colon_port[1:]
    if not colon_port or (colon_port[0] == ":" and (not port or (port.isascii() and port.isdigit()))):
        return None
    return f'invalid port "{colon_port}" after host'


def methods(store: Store) -> Methods:
    """``method``, ``url``, ``host``, ``query``, ``params``, ``headers``, ``headerList``, ``body``."""
    objects, ref = store.objects, store.ref

    def url(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            path = escaped_path(h.path)  # h.path is decoded (URL.Path); Go's URL.String() escapes it
            target = h.context.get(CLIENT_TARGET)
            if target is None:  # no raw target kept: the query as Go's url.Values.Encode writes it
                query = encode_query(h.query)
                return Kind.PLAIN, (path + "?" + query if query else path).encode("utf-8", "surrogateescape")
            # Go's RawQuery: the query as the client (or ctx:url(v)) wrote it, "?" kept even when empty
            _, mark, query = target.partition("?")
            return Kind.PLAIN, (path + mark + query).encode("utf-8", "surrogateescape")
        value = line_text(v, "url", store)
        if not isinstance(value, str):
            return value
        try:
            parts = urlsplit(value)
        except ValueError as exc:  # an unbalanced IPv6 bracket, a bad port...
            return error(f"url: {exc}", BAD_INPUT)
        refused = _refused(value, parts)
        if refused is not None:  # Go's url.Parse refuses it
            return error(f"url: {refused}", BAD_INPUT)
        # held decoded, as URL.Path: the proxy level's path() reads it so, url() escapes it again
        h.path = unquote(parts.path, errors="surrogateescape") or h.path
        h.query = parse_qs(parts.query, keep_blank_values=True, errors="surrogateescape")
        # Go's url.Parse keeps RawQuery as written (the fragment cut off), ForceQuery for a bare "?"
        _, mark, query = value.partition("#")[0].partition("?")
        h.context[CLIENT_TARGET] = mark + query
        return None

    def host(id_: int, n: int, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return Kind.PLAIN, h.host.encode("utf-8", "surrogateescape")
        value = line_text(v, "host", store)
        if not isinstance(value, str):
            return value
        if " " in value:
            return error("host: spaces are not allowed", BAD_INPUT)
        h.host = value
        return None

    def query(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        if n == 0:
            return NEED_ARGS
        key = string_arg(k)
        if key is None:
            return bad_arg(store, 1, "query", "string", k)
        if n == 1:
            values = h.query.get(key)
            return Kind.PLAIN, values[0].encode("utf-8", "surrogateescape") if values else b""
        if v is None:
            h.query.pop(key, None)
        else:
            value = string_arg(v)
            if value is None:
                return bad_arg(store, 2, "query", "string", v)
            h.query[key] = [value]
        query_changed(h)  # KrakenD: Query().Set / Del, then RawQuery = Encode(): url() shows it re-encoded
        return None

    def params(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: Request = objects[id_]
        # router level: the parameters as declared in the endpoint path (lower case)
        raw: dict[str, str] = h.context.setdefault("raw_params", {})
        if n == 0:
            return Kind.TABLE, ref(dict(raw))
        key = string_arg(k)
        if key is None:
            return bad_arg(store, 1, "params", "string", k)
        if n == 1:
            return Kind.PLAIN, raw.get(key, "").encode("utf-8", "surrogateescape")
        value = string_arg(v)
        if value is None:
            return bad_arg(store, 2, "params", "string", v)
        raw[key] = h.params[capitalize(key)] = value
        return None

    return {b"url": url, b"host": host, b"query": query, b"params": params, **request.shared(store)}
