"""Go's ``fmt.Sprintf`` for the verbs templates use: ``%v %s %q %d %f %e %g %x %X %o %b %t %c %%``,
flags ``+ - # 0 space``, width and precision (``*`` too)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from krakenpy.goquote import go_quote
from krakenpy.gotemplate.values import MISSING, go_float, go_str, type_name

__all__ = ["sprint", "sprintf"]

_SPEC = re.compile(r"%([+\-# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])")
#: Go's ``fmt`` refuses a width or precision above a million (``tooLarge``): a template must not
#: allocate gigabytes for one ``printf "%*d" 4000000000 1`` before the output cap can refuse it
_TOO_LARGE = 1_000_000


def _literal_too_large(digits: str) -> bool:
    """Go's ``parsenum`` gives up when the number read so far is over a million and a digit follows."""
    return len(digits) > 1 and int(digits[:-1]) > _TOO_LARGE


def _pad(text: str, flags: str, width: int | None, numeric: bool) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _bad(verb: str, value: Any) -> str:
    return f"%!{verb}({type_name(value)}={go_str(value, top=False)})"


def _integer(verb: str, value: int, flags: str) -> str:
    base = {"d": 10, "x": 16, "X": 16, "o": 8, "O": 8, "b": 2}[verb]
    digits = format(abs(value), {10: "d", 16: "x", 8: "o", 2: "b"}[base])
    if verb == "X":
        digits = digits.upper()
    if "#" in flags and base != 10:
        digits = {16: "0x" if verb == "x" else "0X", 8: "0", 2: "0b"}[base] + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if value < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + digits


def _float(verb: str, value: float, flags: str, precision: int | None) -> str:
    if verb in "gG" and precision is None:
        text = go_float(value)
    else:
        py = {"f": "f", "F": "f", "e": "e", "E": "E", "g": "g", "G": "G"}[verb]
        text = format(value, f".{6 if precision is None else precision}{py}")
    if "+" in flags and not text.startswith("-"):
        text = "+" + text
    elif " " in flags and not text.startswith("-"):
        text = " " + text
    return text


def _one(verb: str, value: Any, flags: str, width: int | None, precision: int | None) -> str:
    numeric = False
    if value is MISSING:
        value = None
    if verb in "vs":
        text = go_str(value, top=False) if verb == "v" or not isinstance(value, bool | int | float) else None
        if text is None:
            return _bad(verb, value)
        if precision is not None and isinstance(value, str):
            text = text[:precision]
    elif verb == "q":
        if isinstance(value, str):
            text = go_quote(value, "`" if "#" in flags and "`" not in value else '"')
        elif isinstance(value, int) and not isinstance(value, bool):
            text = go_quote(chr(value), "'")
        else:
            return _bad(verb, value)
    elif verb == "t":
        if not isinstance(value, bool):
            return _bad(verb, value)
        text = "true" if value else "false"
    elif verb == "c":
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(verb, value)
        text = chr(value)
    elif verb in "dxXoOb" and isinstance(value, int) and not isinstance(value, bool):
        text, numeric = _integer(verb, value, flags), True
    elif verb in "xX" and isinstance(value, str):
        text = value.encode().hex()
        text = text.upper() if verb == "X" else text
    elif verb in "fFeEgG" and isinstance(value, int | float) and not isinstance(value, bool):
        text, numeric = _float(verb, float(value), flags, precision), True
    else:
        return _bad(verb, value)
    return _pad(text, flags, width, numeric)


def sprintf(fmt: str, *args: Any) -> str:
    """Format like Go: bad verbs and missing or extra arguments are written inline (``%!d(string=x)``)."""
    out: list[str] = []
    pos = 0
    used = 0
    for match in _SPEC.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width_s, prec_s, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if (width_s and width_s != "*" and _literal_too_large(width_s)) or (
            prec_s and prec_s != "*" and _literal_too_large(prec_s)
        ):
            out.append("%!(NOVERB)")  # Go stops reading the format there
            pos = len(fmt)
            break
        width: int | None = None
        precision: int | None = None
        if width_s == "*":
            width = _star(args, used)
            used += 1
            if width is None:
                out.append("%!(BADWIDTH)")
            elif width < 0:  # Go: a negative width pads on the right
                flags += "-"
                width = -width
        elif width_s:
            width = int(width_s)
        if prec_s == "*":
            precision = _star(args, used)
            used += 1
            if precision is None or precision < 0:
                out.append("%!(BADPREC)")
                precision = None
        elif prec_s is not None:
            precision = int(prec_s or "0")
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_one(verb, args[used], flags, width, precision))
        used += 1
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{type_name(a)}={go_str(a, top=False)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _star(args: tuple[Any, ...], used: int) -> int | None:
    """A ``*`` width or precision: an int argument within Go's bound, else None (bad)."""
    if used >= len(args):
        return None
    value = args[used]
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > _TOO_LARGE:
        return None
    return value


def sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(arg, top=False) if not isinstance(arg, Mapping | list) else go_str(arg))
    return "".join(out)
