"""Go's text forms of time, which KrakenD's logs use: ``Duration.String()`` and reference layouts
(``2006/01/02 - 15:04:05.000``), translated once into a Python formatter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Final

__all__ = ["LayoutError", "compile_layout", "go_duration", "utc_offset"]

_NS_SECOND: Final = 1_000_000_000


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fraction of ``value / 10**prec`` without trailing zeros ("" when 0)."""
    digits = ""
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def go_duration(ns: int) -> str:
    """``time.Duration(ns).String()``: ``950ns``, ``4.529µs``, ``1.234567ms``, ``2.5s``, ``1m3s``."""
    if ns == 0:
        return "0s"
    if 1_000 <= ns < 1_000_000:  # the common cases first, without the digit loop
        us, rest = divmod(ns, 1_000)
        return f"{us}.{rest:03d}".rstrip("0") + "µs" if rest else f"{us}µs"
    if 1_000_000 <= ns < _NS_SECOND:
        ms, rest = divmod(ns, 1_000_000)
        return f"{ms}.{rest:06d}".rstrip("0") + "ms" if rest else f"{ms}ms"
    sign = "-" if ns < 0 else ""
    u = -ns if ns < 0 else ns
    if u < _NS_SECOND:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _frac(u, 3)
            return f"{sign}{whole}{frac}µs"
        frac, whole = _frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, secs = _frac(u, 9)
    out = f"{secs % 60}{frac}s"
    minutes = secs // 60
    if minutes:
        out = f"{minutes % 60}m{out}"
        hours = minutes // 60
        if hours:
            out = f"{hours}h{out}"
    return sign + out


def utc_offset(seconds: int, colon: bool) -> str:
    """``+0100`` / ``+01:00`` for an offset east of UTC in seconds."""
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    return f"{sign}{hours:02d}:{minutes:02d}" if colon else f"{sign}{hours:02d}{minutes:02d}"


class LayoutError(ValueError):
    """A Go time layout krakenpy cannot translate."""


#: (time.struct_time, nanoseconds within the second) -> text
_Part = Callable[[time.struct_time, int], str]

_MONTHS: Final = ("January February March April May June July August September October November December").split()
_DAYS: Final = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def _zone(tm: time.struct_time, z: bool, colon: bool) -> str:
    offset = tm.tm_gmtoff or 0
    if z and offset == 0:
        return "Z"
    return utc_offset(offset, colon)


def _fraction(digits: int, trim: bool, sep: str) -> _Part:
    def part(tm: time.struct_time, ns: int) -> str:
        text = f"{ns:09d}"[:digits]
        if trim:
            text = text.rstrip("0")
            return sep + text if text else ""
        return sep + text

    return part


# longest tokens first: the scanner takes the first that matches at each position
_TOKENS: Final[tuple[tuple[str, _Part], ...]] = (
    ("January", lambda tm, ns: _MONTHS[tm.tm_mon - 1]),
    ("Monday", lambda tm, ns: _DAYS[tm.tm_wday]),
    ("2006", lambda tm, ns: f"{tm.tm_year:04d}"),
    ("-07:00", lambda tm, ns: _zone(tm, False, True)),
    ("-0700", lambda tm, ns: _zone(tm, False, False)),
    ("Z07:00", lambda tm, ns: _zone(tm, True, True)),
    ("Z0700", lambda tm, ns: _zone(tm, True, False)),
    ("Jan", lambda tm, ns: _MONTHS[tm.tm_mon - 1][:3]),
    ("Mon", lambda tm, ns: _DAYS[tm.tm_wday][:3]),
    ("MST", lambda tm, ns: tm.tm_zone or "UTC"),
    ("-07", lambda tm, ns: _zone(tm, False, False)[:3]),
    ("002", lambda tm, ns: f"{tm.tm_yday:03d}"),
    ("01", lambda tm, ns: f"{tm.tm_mon:02d}"),
    ("02", lambda tm, ns: f"{tm.tm_mday:02d}"),
    ("_2", lambda tm, ns: f"{tm.tm_mday:2d}"),
    ("03", lambda tm, ns: f"{(tm.tm_hour % 12) or 12:02d}"),
    ("04", lambda tm, ns: f"{tm.tm_min:02d}"),
    ("05", lambda tm, ns: f"{tm.tm_sec:02d}"),
    ("06", lambda tm, ns: f"{tm.tm_year % 100:02d}"),
    ("15", lambda tm, ns: f"{tm.tm_hour:02d}"),
    ("PM", lambda tm, ns: "PM" if tm.tm_hour >= 12 else "AM"),
    ("pm", lambda tm, ns: "pm" if tm.tm_hour >= 12 else "am"),
    ("1", lambda tm, ns: str(tm.tm_mon)),
    ("2", lambda tm, ns: str(tm.tm_mday)),
    ("3", lambda tm, ns: str((tm.tm_hour % 12) or 12)),
    ("4", lambda tm, ns: str(tm.tm_min)),
    ("5", lambda tm, ns: str(tm.tm_sec)),
)
_FRACTION = re.compile(r"[.,](0+|9+)(?![0-9])")
#: names go-logging and users write instead of a layout
_NAMED: Final = {
    "rfc3339": "2006-01-02T15:04:05Z07:00",
    "rfc3339nano": "2006-01-02T15:04:05.999999999Z07:00",
    "rfc1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "rfc1123z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "kitchen": "3:04PM",
    "stamp": "Jan _2 15:04:05",
    "stampmilli": "Jan _2 15:04:05.000",
    "datetime": "2006-01-02 15:04:05",
}


def compile_layout(layout: str, *, utc: bool = False) -> Callable[[float], str]:
    """Translate a Go layout once; the result formats a Unix time (local time unless ``utc``)."""
    layout = _NAMED.get(layout.lower(), layout)
    parts: list[_Part | str] = []
    i = 0
    while i < len(layout):
        frac = _FRACTION.match(layout, i)
        if frac is not None:  # Go: ".000" / ",999" not followed by a digit is a fractional second
            run = frac.group(1)
            parts.append(_fraction(len(run), run[0] == "9", layout[i]))
            i = frac.end()
            continue
        for token, part in _TOKENS:
            if layout.startswith(token, i):
                parts.append(part)
                i += len(token)
                break
        else:
            parts.append(layout[i])
            i += 1
    merged: list[_Part | str] = []
    for p in parts:  # join adjacent literals: fewer steps per call
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    convert = time.gmtime if utc else time.localtime
    frozen = tuple(merged)

    def fmt(t: float) -> str:
        whole = int(t)
        ns = int((t - whole) * _NS_SECOND)
        tm = convert(whole)
        return "".join(p if isinstance(p, str) else p(tm, ns) for p in frozen)

    return fmt
