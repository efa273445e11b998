"""Sprig's list, dict and integer-math functions."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from krakenpy.gotemplate.exec import FuncError, bounded
from krakenpy.gotemplate.sprig_convert import as_dict, as_list, strval, to_float, to_int
from krakenpy.gotemplate.values import is_true, type_name

__all__ = ["COLLECTIONS", "atoi"]


def _dict_of(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _set(d: Any, key: Any, value: Any) -> Any:
    if not isinstance(d, dict):
        raise FuncError(f"set expects a map, got {type_name(d)}")
    d[strval(key)] = value
    return d


def _unset(d: Any, key: Any) -> Any:
    if isinstance(d, dict):
        d.pop(strval(key), None)
    return d


def _keys(*dicts: Any) -> list[str]:
    out: list[str] = []
    for d in dicts:
        out.extend(str(k) for k in as_dict(d, "keys"))
    return sorted(out)


def _pick(d: Any, *names: Any) -> dict[str, Any]:
    source = as_dict(d, "pick")
    return {k: source[k] for k in map(strval, names) if k in source}


def _omit(d: Any, *names: Any) -> dict[str, Any]:
    drop = set(map(strval, names))
    return {k: v for k, v in as_dict(d, "omit").items() if k not in drop}


def _merge(dst: Any, *sources: Any) -> Any:
    target = as_dict(dst, "merge")
    for source in sources:
        for key, value in as_dict(source, "merge").items():
            if key not in target:
                target[key] = copy.deepcopy(value)  # type: ignore[index]
            elif isinstance(target[key], dict) and isinstance(value, Mapping):
                _merge(target[key], value)
    return target


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise FuncError("dig needs at least three arguments")
    *keys, default, d = args
    current: Any = as_dict(d, "dig")
    for key in keys:
        if not isinstance(current, Mapping) or strval(key) not in current:
            return default
        current = current[strval(key)]
    return current


def _uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in as_list(items, "uniq"):
        if item not in out:
            out.append(item)
    return out


def _until_step(start: Any, stop: Any, step: Any) -> list[int]:
    s = to_int(step)
    if not s:
        return []
    numbers = range(to_int(start), to_int(stop), s)
    bounded(len(numbers), "untilStep")  # a client's number must not allocate without bound
    return list(numbers)


def _div(a: Any, b: Any) -> int:
    x, y = to_int(a), to_int(b)
    if y == 0:
        raise FuncError("integer divide by zero")
    return int(x / y)  # Go truncates toward zero


def _mod(a: Any, b: Any) -> int:
    x, y = to_int(a), to_int(b)
    if y == 0:
        raise FuncError("integer divide by zero")
    return int(math.fmod(x, y))


def atoi(text: Any) -> int:
    """Go's ``strconv.Atoi`` with the error dropped, as Sprig does: 0 when not an integer."""
    try:
        return int(strval(text).strip())
    except ValueError:
        return 0


COLLECTIONS: Mapping[str, Callable[..., Any]] = {
    # lists
    "list": lambda *items: list(items),
    "tuple": lambda *items: list(items),
    "first": lambda items: (as_list(items, "first") or [None])[0],
    "last": lambda items: (as_list(items, "last") or [None])[-1],
    "rest": lambda items: as_list(items, "rest")[1:],
    "initial": lambda items: as_list(items, "initial")[:-1],
    "append": lambda items, v: [*as_list(items, "append"), v],
    "push": lambda items, v: [*as_list(items, "push"), v],
    "prepend": lambda items, v: [v, *as_list(items, "prepend")],
    "concat": lambda *lists: [x for items in lists for x in as_list(items, "concat")],
    "reverse": lambda items: as_list(items, "reverse")[::-1],
    "has": lambda needle, items: needle in as_list(items, "has"),
    "uniq": _uniq,
    "compact": lambda items: [x for x in as_list(items, "compact") if is_true(x)],
    "without": lambda items, *drop: [x for x in as_list(items, "without") if x not in drop],
    "until": lambda n: _until_step(0, n, 1 if to_int(n) >= 0 else -1),
    "untilStep": _until_step,
    # dicts
    "dict": _dict_of,
    "get": lambda d, key: as_dict(d, "get").get(strval(key), ""),
    "set": _set,
    "unset": _unset,
    "hasKey": lambda d, key: strval(key) in as_dict(d, "hasKey"),
    "keys": _keys,
    "values": lambda d: [d[k] for k in sorted(as_dict(d, "values"))],
    "pluck": lambda key, *ds: [d[strval(key)] for d in ds if isinstance(d, Mapping) and strval(key) in d],
    "pick": _pick,
    "omit": _omit,
    "merge": _merge,
    "dig": _dig,
    "deepCopy": copy.deepcopy,
    # math
    "add": lambda *v: sum(to_int(x) for x in v),
    "add1": lambda v: to_int(v) + 1,
    "sub": lambda a, b: to_int(a) - to_int(b),
    "mul": lambda *v: math.prod(to_int(x) for x in v),
    "div": _div,
    "mod": _mod,
    "max": lambda a, *v: max(to_int(x) for x in (a, *v)),
    "min": lambda a, *v: min(to_int(x) for x in (a, *v)),
    "addf": lambda *v: sum(to_float(x) for x in v),
    "subf": lambda a, *v: to_float(a) - sum(to_float(x) for x in v),
    "mulf": lambda *v: math.prod(to_float(x) for x in v),
    "floor": lambda v: float(math.floor(to_float(v))),
    "ceil": lambda v: float(math.ceil(to_float(v))),
}
