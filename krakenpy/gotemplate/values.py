"""Go's view of template values: truth, printing (``fmt``'s ``%v``), quoting, type names.

Template data are JSON values (dict, list, str, int, float, bool, None). A map lookup that finds no
key yields :data:`MISSING` (Go's invalid ``reflect.Value``), which prints as ``<no value>``, like a
JSON ``null``; inside a container ``null`` prints as ``<nil>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "MISSING",
    "Missing",
    "go_float",
    "go_str",
    "is_true",
    "kind_of",
    "type_name",
]


class Missing:
    """The result of looking up a key a map does not have."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Final = Missing()


def is_true(value: object) -> bool:
    """Go's ``truth``: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | bytes | Sequence | Mapping):
        return len(value) > 0
    return True


def go_float(value: float) -> str:
    """``fmt``'s ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 on (``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    # position of the decimal point relative to the digit string
    point = len(digits) + exponent
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def go_str(value: Any, *, top: bool = True) -> str:
    """``fmt.Sprint`` of one value (what ``{{ .x }}`` writes)."""
    if isinstance(value, str):
        return value
    if value is MISSING or (value is None and top):
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        items = " ".join(f"{go_str(k, top=False)}:{go_str(value[k], top=False)}" for k in sorted(value, key=str))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v, top=False) for v in value) + "]"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def kind_of(value: object) -> str:
    """Go's ``reflect.Kind`` name of a JSON value (sprig ``kindOf``)."""
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    return type(value).__name__


def type_name(value: object) -> str:
    """Go's type name of a JSON value (sprig ``typeOf``, error messages)."""
    kind = kind_of(value)
    return {"map": "map[string]interface {}", "slice": "[]interface {}", "invalid": "<nil>"}.get(kind, kind)
