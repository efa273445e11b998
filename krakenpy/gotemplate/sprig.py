"""The common Sprig functions KrakenD templates use (strings, defaults, lists, dicts, math, JSON, env,
base64). Behaviour follows Sprig v3: e.g. ``split`` returns a ``_0, _1...`` map, ``splitList`` a list;
integer math converts its operands like Sprig's ``toInt64``."""

from __future__ import annotations

import base64
import binascii
import copy
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from krakenpy.gotemplate.exec import FuncError
from krakenpy.gotemplate.values import go_quote, go_str, is_true, kind_of, type_name

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


def _str(value: Any) -> str:
    """Sprig's ``strval``: nil becomes an empty string."""
    return "" if value is None else go_str(value, top=False)


def _strings(items: Any) -> list[str]:
    if items is None:
        return []
    if isinstance(items, list | tuple):
        return [_str(v) for v in items if v is not None]
    return [_str(items)]


def _int(value: Any) -> int:
    """Sprig's ``toInt64`` (spf13/cast): numbers truncate, numeric strings parse, anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return 0.0
    return 0.0


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise FuncError(f"cannot {name} on type {type_name(value)}")
    return list(value)


def _dict(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FuncError(f"{name} expects a map, got {type_name(value)}")
    return value


def _empty(value: Any) -> bool:
    return not is_true(value)


def _default(default: Any, *given: Any) -> Any:
    return given[0] if given and is_true(given[0]) else default


def _ternary(yes: Any, no: Any, condition: Any) -> Any:
    return yes if is_true(condition) else no


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if is_true(v)), None)


def _fail(message: Any) -> str:
    raise FuncError(_str(message))


def _required(message: Any, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value == ""):
        raise FuncError(_str(message))
    return value


def _quote(*values: Any, mark: str = '"') -> str:
    quoted = []
    for value in values:
        if value is None:
            continue
        quoted.append(go_quote(_str(value)) if mark == '"' else f"'{_str(value)}'")
    return " ".join(quoted)


def _trunc(length: Any, text: Any) -> str:
    n, s = _int(length), _str(text)
    if n < 0:
        return s[max(len(s) + n, 0) :]
    return s[:n]


def _substr(start: Any, end: Any, text: Any) -> str:
    s, a, b = _str(text), _int(start), _int(end)
    if a < 0:
        return s[:b]
    if b < 0 or b > len(s):
        return s[a:]
    return s[a:b]


def _indent(spaces: Any, text: Any) -> str:
    pad = " " * _int(spaces)
    return pad + _str(text).replace("\n", "\n" + pad)


def _split(sep: Any, text: Any) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(_str(text).split(_str(sep)))}


def _title(text: Any) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), _str(text))


def _env(name: Any) -> str:
    return os.environ.get(_str(name), "")


def _expandenv(text: Any) -> str:
    def sub(match: re.Match[str]) -> str:
        return os.environ.get(match.group(1) or match.group(2), "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, _str(text))


def _b64dec(text: Any) -> str:
    try:
        return base64.b64decode(_str(text), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        return str(exc)


def _from_json(text: Any) -> Any:
    try:
        return orjson.loads(_str(text))
    except orjson.JSONDecodeError:
        return {}


def _dict_of(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[_str(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _set(d: Any, key: Any, value: Any) -> Any:
    if not isinstance(d, dict):
        raise FuncError(f"set expects a map, got {type_name(d)}")
    d[_str(key)] = value
    return d


def _unset(d: Any, key: Any) -> Any:
    if isinstance(d, dict):
        d.pop(_str(key), None)
    return d


def _keys(*dicts: Any) -> list[str]:
    out: list[str] = []
    for d in dicts:
        out.extend(str(k) for k in _dict(d, "keys"))
    return sorted(out)


def _pick(d: Any, *names: Any) -> dict[str, Any]:
    source = _dict(d, "pick")
    return {k: source[k] for k in map(_str, names) if k in source}


def _omit(d: Any, *names: Any) -> dict[str, Any]:
    drop = set(map(_str, names))
    return {k: v for k, v in _dict(d, "omit").items() if k not in drop}


def _merge(dst: Any, *sources: Any) -> Any:
    target = _dict(dst, "merge")
    for source in sources:
        for key, value in _dict(source, "merge").items():
            if key not in target:
                target[key] = copy.deepcopy(value)  # type: ignore[index]
            elif isinstance(target[key], dict) and isinstance(value, Mapping):
                _merge(target[key], value)
    return target


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise FuncError("dig needs at least three arguments")
    *keys, default, d = args
    current: Any = _dict(d, "dig")
    for key in keys:
        if not isinstance(current, Mapping) or _str(key) not in current:
            return default
        current = current[_str(key)]
    return current


def _uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items, "uniq"):
        if item not in out:
            out.append(item)
    return out


def _until_step(start: Any, stop: Any, step: Any) -> list[int]:
    s = _int(step)
    return list(range(_int(start), _int(stop), s)) if s else []


def _div(a: Any, b: Any) -> int:
    x, y = _int(a), _int(b)
    if y == 0:
        raise FuncError("integer divide by zero")
    return int(x / y)  # Go truncates toward zero


def _mod(a: Any, b: Any) -> int:
    x, y = _int(a), _int(b)
    if y == 0:
        raise FuncError("integer divide by zero")
    return int(math.fmod(x, y))


def _atoi(text: Any) -> int:
    try:
        return int(_str(text).strip())
    except ValueError:
        return 0


SPRIG: Mapping[str, Callable[..., Any]] = {
    # defaults and flow
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "fail": _fail,
    "required": _required,
    # strings
    "upper": lambda s: _str(s).upper(),
    "lower": lambda s: _str(s).lower(),
    "title": _title,
    "trim": lambda s: _str(s).strip(),
    "trimAll": lambda cut, s: _str(s).strip(_str(cut)),
    "trimPrefix": lambda prefix, s: _str(s).removeprefix(_str(prefix)),
    "trimSuffix": lambda suffix, s: _str(s).removesuffix(_str(suffix)),
    "trunc": _trunc,
    "substr": _substr,
    "replace": lambda old, new, s: _str(s).replace(_str(old), _str(new)),
    "contains": lambda sub, s: _str(sub) in _str(s),
    "hasPrefix": lambda prefix, s: _str(s).startswith(_str(prefix)),
    "hasSuffix": lambda suffix, s: _str(s).endswith(_str(suffix)),
    "repeat": lambda n, s: _str(s) * max(_int(n), 0),
    "nospace": lambda s: re.sub(r"\s", "", _str(s)),
    "quote": _quote,
    "squote": lambda *v: _quote(*v, mark="'"),
    "cat": lambda *v: " ".join(_str(x) for x in v if x is not None),
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "join": lambda sep, items: _str(sep).join(_strings(items)),
    "split": _split,
    "splitList": lambda sep, s: _str(s).split(_str(sep)),
    "toString": _str,
    "toStrings": _strings,
    "sortAlpha": lambda items: sorted(_strings(items)),
    # encodings and environment
    "b64enc": lambda s: base64.b64encode(_str(s).encode()).decode(),
    "b64dec": _b64dec,
    "env": _env,
    "expandenv": _expandenv,
    "toJson": lambda v: go_json(v),
    "toRawJson": lambda v: go_json(v, escape_html=False),
    "toPrettyJson": lambda v: go_json(v, indent=True),
    "fromJson": _from_json,
    # lists
    "list": lambda *items: list(items),
    "tuple": lambda *items: list(items),
    "first": lambda items: (_list(items, "first") or [None])[0],
    "last": lambda items: (_list(items, "last") or [None])[-1],
    "rest": lambda items: _list(items, "rest")[1:],
    "initial": lambda items: _list(items, "initial")[:-1],
    "append": lambda items, v: [*_list(items, "append"), v],
    "push": lambda items, v: [*_list(items, "push"), v],
    "prepend": lambda items, v: [v, *_list(items, "prepend")],
    "concat": lambda *lists: [x for items in lists for x in _list(items, "concat")],
    "reverse": lambda items: _list(items, "reverse")[::-1],
    "has": lambda needle, items: needle in _list(items, "has"),
    "uniq": _uniq,
    "compact": lambda items: [x for x in _list(items, "compact") if is_true(x)],
    "without": lambda items, *drop: [x for x in _list(items, "without") if x not in drop],
    "until": lambda n: list(range(_int(n))) if _int(n) >= 0 else list(range(0, _int(n), -1)),
    "untilStep": _until_step,
    # dicts
    "dict": _dict_of,
    "get": lambda d, key: _dict(d, "get").get(_str(key), ""),
    "set": _set,
    "unset": _unset,
    "hasKey": lambda d, key: _str(key) in _dict(d, "hasKey"),
    "keys": _keys,
    "values": lambda d: [d[k] for k in sorted(_dict(d, "values"))],
    "pluck": lambda key, *ds: [d[_str(key)] for d in ds if isinstance(d, Mapping) and _str(key) in d],
    "pick": _pick,
    "omit": _omit,
    "merge": _merge,
    "dig": _dig,
    "deepCopy": copy.deepcopy,
    # math
    "add": lambda *v: sum(_int(x) for x in v),
    "add1": lambda v: _int(v) + 1,
    "sub": lambda a, b: _int(a) - _int(b),
    "mul": lambda *v: math.prod(_int(x) for x in v),
    "div": _div,
    "mod": _mod,
    "max": lambda a, *v: max(_int(x) for x in (a, *v)),
    "min": lambda a, *v: min(_int(x) for x in (a, *v)),
    "addf": lambda *v: sum(_float(x) for x in v),
    "subf": lambda a, *v: _float(a) - sum(_float(x) for x in v),
    "mulf": lambda *v: math.prod(_float(x) for x in v),
    "floor": lambda v: float(math.floor(_float(v))),
    "ceil": lambda v: float(math.ceil(_float(v))),
    # conversions and reflection
    "atoi": _atoi,
    "int": _int,
    "int64": _int,
    "float64": _float,
    "kindOf": kind_of,
    "kindIs": lambda kind, v: kind_of(v) == _str(kind),
    "typeOf": type_name,
}
