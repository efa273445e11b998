"""Go duration strings ("3s", "200ms", "1m30s", "1.5h") as float seconds."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

#: Go's time.Duration is an int64 of nanoseconds: longer durations are an overflow error there
_MAX_SECONDS = (2**63 - 1) / 1e9
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Parse a Go ``time.Duration`` string; integers are nanoseconds, as in Go. Raises ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        if abs(value) > 2**63 - 1:
            raise ValueError(f"invalid duration {value!r}: longer than Go's maximum (about 292 years)")
        return float(value) * 1e-9
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    text = value.strip()
    sign = 1.0
    if text[:1] in "+-" and text:
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {value!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {value!r}")
    if total > _MAX_SECONDS:
        raise ValueError(f"invalid duration {value!r}: longer than Go's maximum (about 292 years)")
    return sign * total
