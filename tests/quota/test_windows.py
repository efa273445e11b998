"""Calendar windows of the quota limits: UTC boundaries, weeks from Monday, months and years."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from krakenpy.quota.rejecter import Rejecter
from krakenpy.quota.windows import UNITS, window


def _ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("unit", "now", "start", "end"),
    [
        ("second", _ts(2026, 3, 4, 5, 6, 7) + 0.5, _ts(2026, 3, 4, 5, 6, 7), _ts(2026, 3, 4, 5, 6, 8)),
        ("minute", _ts(2026, 3, 4, 5, 6, 7), _ts(2026, 3, 4, 5, 6), _ts(2026, 3, 4, 5, 7)),
        ("hour", _ts(2026, 3, 4, 5, 59, 59), _ts(2026, 3, 4, 5), _ts(2026, 3, 4, 6)),
        ("day", _ts(2026, 3, 4, 23, 59, 59), _ts(2026, 3, 4), _ts(2026, 3, 5)),
        ("week", _ts(2026, 3, 4, 12), _ts(2026, 3, 2), _ts(2026, 3, 9)),  # a Wednesday → Monday 2nd
        ("week", _ts(2026, 3, 8, 23, 59), _ts(2026, 3, 2), _ts(2026, 3, 9)),  # Sunday: same week
        ("week", _ts(2026, 3, 9), _ts(2026, 3, 9), _ts(2026, 3, 16)),  # Monday 00:00 starts one
        ("month", _ts(2026, 12, 31, 23, 59), _ts(2026, 12, 1), _ts(2027, 1, 1)),
        ("month", _ts(2028, 2, 29, 12), _ts(2028, 2, 1), _ts(2028, 3, 1)),
        ("year", _ts(2026, 7, 1), _ts(2026, 1, 1), _ts(2027, 1, 1)),
    ],
)
def test_window_calendar_boundaries_in_utc(unit: str, now: float, start: float, end: float) -> None:
    assert window(unit, now) == (int(start), int(end))


def test_window_every_unit_holds_now() -> None:
    now = _ts(2026, 12, 1, 14, 31, 30)
    for unit in UNITS:
        start, end = window(unit, now)
        assert start <= now < end


def test_rejecter_remembers_per_generation_and_forgets_on_a_new_one() -> None:
    rejecter = Rejecter(1000, 1e-6)
    assert not rejecter.check("a", 1)  # nothing allocated yet
    rejecter.add("a", 1)
    assert rejecter.check("a", 1) and not rejecter.check("b", 1)
    assert not rejecter.check("a", 2)  # the shortest window rolled over: emptied
    rejecter.add("b", 2)
    assert rejecter.check("b", 2) and not rejecter.check("a", 2)
    rejecter.close()
