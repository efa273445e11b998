"""Calendar windows of a quota limit, in UTC: a window starts at the unit's boundary (the hour at
``:00``, the day at midnight, the week on Monday, the month on the 1st, the year on January 1st)
and every counter restarts at the next one. UTC, not the server's zone, so every instance of a
cluster (and a restarted one) agrees on when a day ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

__all__ = ["UNITS", "window"]

_FIXED: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
#: the units a limit may use, shortest first
UNITS: Final = ("second", "minute", "hour", "day", "week", "month", "year")
#: 1970-01-01 was a Thursday: Mondays are 4 days later in the week cycle
_MONDAY_OFFSET: Final = 4 * 86_400
#: the last month and year windows found (a clock may go back: each is checked to hold ``now``)
_CALENDAR: dict[str, tuple[int, int]] = {}


def window(unit: str, now: float) -> tuple[int, int]:
    """``(start, end)`` in Unix seconds of the window of ``unit`` holding ``now``."""
    step = _FIXED.get(unit)
    if step is not None:
        start = int(now // step) * step
        return start, start + step
    if unit == "week":
        start = int((now - _MONDAY_OFFSET) // 604_800) * 604_800 + _MONDAY_OFFSET
        return start, start + 604_800
    cached = _CALENDAR.get(unit)
    if cached is not None and cached[0] <= now < cached[1]:
        return cached  # a month or a year: the datetime arithmetic once per window, not per request
    found = _calendar(unit, now)
    _CALENDAR[unit] = found
    return found


def _calendar(unit: str, now: float) -> tuple[int, int]:
    day = datetime.fromtimestamp(now, UTC)
    if unit == "month":
        first = datetime(day.year, day.month, 1, tzinfo=UTC)
        after = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
    else:  # year
        first = datetime(day.year, 1, 1, tzinfo=UTC)
        after = datetime(day.year + 1, 1, 1, tzinfo=UTC)
    return int(first.timestamp()), int(after.timestamp())
