"""A quota clock for tests: noon UTC today, far from every day, week, month and year boundary, and
never after the real time's day: the counters' expiry (the window's end, for Redis's own clock) is
still ahead. Hour and shorter windows would end in the past: tests on them use the real clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


def noon() -> float:
    """Noon UTC of the real clock's day."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0).timestamp()


def noon_clock() -> Callable[[], float]:
    """A clock starting at :func:`noon` and ticking with the real one (Redis cooldowns still end)."""
    start, at = time.monotonic(), noon()
    return lambda: at + (time.monotonic() - start)
