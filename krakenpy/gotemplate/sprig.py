"""The common Sprig functions KrakenD templates use (strings, defaults, lists, dicts, math, JSON, env,
base64). Behaviour follows Sprig v3: e.g. ``split`` returns a ``_0, _1...`` map, ``splitList`` a list;
integer math converts its operands like Sprig's ``toInt64``."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from krakenpy.goquote import go_quote
from krakenpy.gotemplate.exec import FuncError, bounded
from krakenpy.gotemplate.sprig_collections import COLLECTIONS, atoi
from krakenpy.gotemplate.sprig_convert import strval, strvals, to_float, to_int
from krakenpy.gotemplate.values import is_true, kind_of, type_name

__all__ = ["SPRIG", "go_json"]

_HTML_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def go_json(value: Any, *, indent: bool = False, escape_html: bool = True) -> str:
    """``json.Marshal``: sorted keys; ``<``, ``>``, ``&`` escaped as Go does unless ``escape_html`` is off."""
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        text = orjson.dumps(value, option=option).decode()
    except TypeError as exc:
        raise FuncError(f"json: {exc}") from None
    return text.translate(_HTML_ESCAPES) if escape_html else text


def _empty(value: Any) -> bool:
    return not is_true(value)


def _default(default: Any, *given: Any) -> Any:
    return given[0] if given and is_true(given[0]) else default


def _ternary(yes: Any, no: Any, condition: Any) -> Any:
    return yes if is_true(condition) else no


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if is_true(v)), None)


def _fail(message: Any) -> str:
    raise FuncError(strval(message))


def _required(message: Any, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value == ""):
        raise FuncError(strval(message))
    return value


def _quote(*values: Any, mark: str = '"') -> str:
    quoted = []
    for value in values:
        if value is None:
            continue
        quoted.append(go_quote(strval(value)) if mark == '"' else f"'{strval(value)}'")
    return " ".join(quoted)


def _trunc(length: Any, text: Any) -> str:
    n, s = to_int(length), strval(text)
    if n < 0:
        return s[max(len(s) + n, 0) :]
    return s[:n]


def _substr(start: Any, end: Any, text: Any) -> str:
    s, a, b = strval(text), to_int(start), to_int(end)
    if a < 0:
        return s[:b]
    if b < 0 or b > len(s):
        return s[a:]
    return s[a:b]


def _indent(spaces: Any, text: Any) -> str:
    count, s = max(to_int(spaces), 0), strval(text)
    bounded(count * (s.count("\n") + 1) + len(s), "indent")
    pad = " " * count
    return pad + s.replace("\n", "\n" + pad)


def _repeat(count: Any, text: Any) -> str:
    n, s = max(to_int(count), 0), strval(text)
    bounded(n * len(s), "repeat")
    return s * n


def _split(sep: Any, text: Any) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(strval(text).split(strval(sep)))}


def _title(text: Any) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), strval(text))


def _env(name: Any) -> str:
    return os.environ.get(strval(name), "")


def _expandenv(text: Any) -> str:
    def sub(match: re.Match[str]) -> str:
        return os.environ.get(match.group(1) or match.group(2), "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, strval(text))


def _b64dec(text: Any) -> str:
    try:
        return base64.b64decode(strval(text), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        return str(exc)


def _from_json(text: Any) -> Any:
    try:
        return orjson.loads(strval(text))
    except orjson.JSONDecodeError:
        return {}


SPRIG: Mapping[str, Callable[..., Any]] = {
    # defaults and flow
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "fail": _fail,
    "required": _required,
    # strings
    "upper": lambda s: strval(s).upper(),
    "lower": lambda s: strval(s).lower(),
    "title": _title,
    "trim": lambda s: strval(s).strip(),
    "trimAll": lambda cut, s: strval(s).strip(strval(cut)),
    "trimPrefix": lambda prefix, s: strval(s).removeprefix(strval(prefix)),
    "trimSuffix": lambda suffix, s: strval(s).removesuffix(strval(suffix)),
    "trunc": _trunc,
    "substr": _substr,
    "replace": lambda old, new, s: strval(s).replace(strval(old), strval(new)),
    "contains": lambda sub, s: strval(sub) in strval(s),
    "hasPrefix": lambda prefix, s: strval(s).startswith(strval(prefix)),
    "hasSuffix": lambda suffix, s: strval(s).endswith(strval(suffix)),
    "repeat": _repeat,
    "nospace": lambda s: re.sub(r"\s", "", strval(s)),
    "quote": _quote,
    "squote": lambda *v: _quote(*v, mark="'"),
    "cat": lambda *v: " ".join(strval(x) for x in v if x is not None),
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "join": lambda sep, items: strval(sep).join(strvals(items)),
    "split": _split,
    "splitList": lambda sep, s: strval(s).split(strval(sep)),
    "toString": strval,
    "toStrings": strvals,
    "sortAlpha": lambda items: sorted(strvals(items)),
    # encodings and environment
    "b64enc": lambda s: base64.b64encode(strval(s).encode()).decode(),
    "b64dec": _b64dec,
    "env": _env,
    "expandenv": _expandenv,
    "toJson": lambda v: go_json(v),
    "toRawJson": lambda v: go_json(v, escape_html=False),
    "toPrettyJson": lambda v: go_json(v, indent=True),
    "fromJson": _from_json,
    # conversions and reflection
    "atoi": atoi,
    "int": to_int,
    "int64": to_int,
    "float64": to_float,
    "kindOf": kind_of,
    "kindIs": lambda kind, v: kind_of(v) == strval(kind),
    "typeOf": type_name,
    **COLLECTIONS,
}
