"""Reading claims the way krakend-jose does: dotted paths, header rendering, roles and scopes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

__all__ = ["MISSING", "claim_values", "lookup", "nested", "render", "render_element"]

#: a claim that is not there (``None`` is JSON ``null``, which is a value)
MISSING: Final[Any] = object()


def nested(claims: dict[str, Any], path: str) -> Any:
    """``a.b.c`` through nested objects; :data:`MISSING` when any step is absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def lookup(claims: dict[str, Any], key: str, *, is_nested: bool) -> Any:
    """krakend-jose's rule: nested by dots unless the key starts with ``http`` (namespaced claim URLs)."""
    if is_nested and not key.startswith("http") and "." in key:
        return nested(claims, key)
    return claims.get(key, MISSING)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (shortest form, exponent beyond 1e21)."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return text


def render_element(value: Any) -> str:
    """One array element, like Go's ``%v``: strings as they are, numbers shortest, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return orjson.dumps(value).decode()


def render(value: Any) -> str:
    """A claim as one header value (krakend-jose): integral numbers without decimals, other floats
    with six (``%f``), arrays joined by commas, objects and booleans as JSON, a missing claim ``""``."""
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else f"{value:f}"
    if isinstance(value, list):
        return ",".join(render_element(v) for v in value)
    return orjson.dumps(value).decode()


def claim_values(value: Any) -> Sequence[str] | None:
    """A roles/scopes claim as a list of strings: a JSON array of strings or a space-separated string.
    ``None`` when the claim has another shape (krakend-jose panics on a non-string element)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None
