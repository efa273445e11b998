"""The advanced macros of ``security/policies``: CEL functions over the request being checked.

KrakenD Enterprise's macros take no request argument (``getCookie('GDPR')``): they read the request
the policy is evaluated for. cel-cpp binds function implementations when the environment is built,
so the implementations read :data:`CURRENT`, which the evaluator sets just before it evaluates and
clears right after. Evaluation is synchronous (no ``await`` in between), so one slot per process is
enough: no other request can run while a policy evaluates.

Names and lookups (Go's ``net/http`` semantics, as EE's Go code sees the request):

- ``getCookie(name)`` / ``hasCookie(name)``: the first cookie of that exact name in the ``Cookie``
  headers (``Request.Cookie``: ``;``-separated pairs, surrounding double quotes dropped); ``""`` when
  absent.
- ``getHeader(name)`` / ``hasHeader(name)``: the first value of the header, name case-insensitive.
- ``getQuerystring(name)`` / ``hasQuerystring(name)``: the first value of the query parameter
  (case-sensitive, as query strings are).
- ``between(value, low, high)`` and ``value.between(low, high)``: ``low <= value <= high`` for two
  ints or two doubles (bounds included).

The request is the one the policy sees: at the endpoint, the client request after input filtering
(a cookie needs ``Cookie`` in ``input_headers``, as every header a policy reads); at a backend, the
backend request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from cel_expr_python import cel

from krakenpy.proxy.types import Request

__all__ = ["CURRENT", "MACROS", "declarations"]

_T = cel.Type


class _Current:
    """The request the policies being evaluated belong to (``None`` between evaluations)."""

    __slots__ = ("request",)

    def __init__(self) -> None:
        self.request: Request | None = None


#: set by the evaluator around one evaluation
CURRENT: Final = _Current()


def _request() -> Request:
    request = CURRENT.request
    if request is None:  # a macro outside an evaluation: an error value, so the policy denies
        raise LookupError("no request bound")
    return request


def _canonical(name: str) -> str:
    # Go's CanonicalMIMEHeaderKey for the usual token names: the keys of Request.headers
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _header_values(name: str) -> list[str]:
    headers = _request().headers
    found = headers.get(_canonical(name))
    if found is None:  # a key kept as sent (a name with characters Go does not canonicalise)
        found = headers.get(name, [])
    return found


def _cookie(name: str) -> str | None:
    for line in _header_values("Cookie"):
        for part in line.split(";"):
            key, eq, value = part.strip().partition("=")
            if not eq or key != name:
                continue
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def _get_cookie(name: str) -> str:
    return _cookie(name) or ""


def _has_cookie(name: str) -> bool:
    return _cookie(name) is not None


def _get_header(name: str) -> str:
    values = _header_values(name)
    return values[0] if values else ""


def _has_header(name: str) -> bool:
    return bool(_header_values(name))


def _get_query(name: str) -> str:
    values = _request().query.get(name, [])
    return values[0] if values else ""


def _has_query(name: str) -> bool:
    return bool(_request().query.get(name))


def _between(value: Any, low: Any, high: Any) -> bool:
    return bool(low <= value <= high)


def _string_function(name: str, result: Any, impl: Callable[[str], Any]) -> Any:
    return cel.FunctionDecl(name, [cel.Overload(f"{name}_string", result, [_T.STRING], impl=impl)])


def _between_decl() -> Any:
    overloads = []
    for kind, label in ((_T.INT, "int"), (_T.DOUBLE, "double")):
        args = [kind, kind, kind]
        overloads.append(cel.Overload(f"between_{label}", _T.BOOL, args, impl=_between))
        overloads.append(cel.Overload(f"{label}_between", _T.BOOL, args, is_member=True, impl=_between))
    return cel.FunctionDecl("between", overloads)


#: macro name → what it reads (the README and the ``check`` messages list them)
MACROS: Final[Mapping[str, str]] = {
    "getCookie": "request cookie",
    "hasCookie": "request cookie",
    "getHeader": "request header",
    "hasHeader": "request header",
    "getQuerystring": "request query string",
    "hasQuerystring": "request query string",
    "between": "numbers",
}


def declarations() -> list[Any]:
    """The CEL function declarations (with their implementations) of every macro."""
    return [
        _string_function("getCookie", _T.STRING, _get_cookie),
        _string_function("hasCookie", _T.BOOL, _has_cookie),
        _string_function("getHeader", _T.STRING, _get_header),
        _string_function("hasHeader", _T.BOOL, _has_header),
        _string_function("getQuerystring", _T.STRING, _get_query),
        _string_function("hasQuerystring", _T.BOOL, _has_query),
        _between_decl(),
    ]
