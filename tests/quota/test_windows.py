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


def test_window_calendar_cache_follows_the_clock_both_ways() -> None:
    """Month and year windows are cached until they end; a clock that goes back gets its own window."""
    july, march = _ts(2026, 7, 15), _ts(2026, 3, 15)
    assert window("month", july) == (int(_ts(2026, 7, 1)), int(_ts(2026, 8, 1)))
    assert window("month", march) == (int(_ts(2026, 3, 1)), int(_ts(2026, 4, 1)))
    assert window("month", _ts(2026, 3, 31, 23, 59, 59)) == (int(_ts(2026, 3, 1)), int(_ts(2026, 4, 1)))
    assert window("month", _ts(2026, 4, 1)) == (int(_ts(2026, 4, 1)), int(_ts(2026, 5, 1)))
    assert window("year", _ts(2030, 1, 1)) == (int(_ts(2030, 1, 1)), int(_ts(2031, 1, 1)))
    assert window("year", _ts(2029, 12, 31, 23, 59, 59)) == (int(_ts(2029, 1, 1)), int(_ts(2030, 1, 1)))


def test_window_calendar_is_computed_once_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenpy.quota import windows

    calls: list[str] = []
    real = windows._calendar

    def counted(unit: str, now: float) -> tuple[int, int]:
        calls.append(unit)
        return real(unit, now)

    monkeypatch.setattr(windows, "_calendar", counted)
    monkeypatch.setattr(windows, "_CALENDAR", {})
    for hour in range(5):
        window("month", _ts(2026, 5, 2, hour))
    window("month", _ts(2026, 6, 1))
    assert calls == ["month", "month"]
