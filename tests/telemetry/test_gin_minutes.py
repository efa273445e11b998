"""The gin renderer makes a line's time text once a minute (its seconds from a table): every line's
``[GIN] 2006/01/02 - 15:04:05`` is ``localtime``'s reading of its own second, across minutes, UTC
offset changes (daylight saving, both ways), zones off the hour, an offset change that is no whole
minute (Amsterdam, 1937), seconds before 1970 and, where the system has them, a leap second
(``right/`` zones), in batches and over seconds that go back."""

from __future__ import annotations

import calendar
import os
import random
import time
from pathlib import Path

import pytest

from krakenpy.telemetry.ginline import GinEntry, gin_renderer

_ZONES = Path("/usr/share/zoneinfo")


def _utc_any(*fields: int) -> int:
    """The Unix second of a UTC date and time."""
    return calendar.timegm((*fields, 0, 0, 0))


@pytest.mark.parametrize(
    ("name", "around"),
    [
        ("UTC", (2026, 12, 2, 14, 0, 0)),
        ("UTC", (1970, 1, 1, 0, 0, 0)),  # seconds before 0 too
        ("Europe/Berlin", (2026, 3, 29, 1, 0, 0)),  # 02:00 local becomes 03:00
        ("Europe/Berlin", (2026, 10, 25, 1, 0, 0)),  # 03:00 local becomes 02:00 again
        ("Asia/Kolkata", (2026, 12, 2, 14, 0, 0)),  # +05:30
        ("America/St_Johns", (2026, 3, 8, 5, 30, 0)),  # -03:30, daylight saving from 02:00 local
        ("right/UTC", (2017, 1, 1, 0, 0, 0)),  # the leap second 2016-12-31 23:59:60
        ("Europe/Amsterdam", (1937, 6, 30, 22, 40, 28)),  # +00:19:32 to +00:20: an offset off the minute
    ],
)
def test_every_line_has_its_own_seconds_time_text(zone: None, name: str, around: tuple[int, ...]) -> None:
    if not (_ZONES / name).is_file():
        pytest.skip(f"no {name} zone here")
    os.environ["TZ"] = name
    time.tzset()
    middle = _utc_any(*around)
    if name.startswith("right/"):
        middle += 27  # right/ zones count the leap seconds in their time_t: the leap second's own
    rng = random.Random(name + str(around))
    render = gin_renderer()
    for _ in range(60):
        start = middle + rng.randint(-200, 200)
        seconds = sorted(start + rng.randint(0, 130) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.2:
            rng.shuffle(seconds)  # a batch may hold ends out of order (two writers' lines queued together)
        entries: list[GinEntry] = [(s * 10**9 + rng.randint(0, 10**9 - 1), 200, 1_500, "10.0.0.1", "GET", "/p1", None)
                                   for s in seconds]  # fmt: skip
        lines = render(entries).decode().splitlines()
        assert len(lines) == len(seconds)
        for line, second in zip(lines, seconds, strict=True):
            expected = time.strftime("[GIN] %Y/%m/%d - %H:%M:%S | ", time.localtime(second))
            assert line.startswith(expected), (line, second)
    # the zone's special second itself and its neighbours, in order, one batch each and all in one
    seconds = list(range(middle - 65, middle + 65))
    entries = [(s * 10**9, 200, 1_500, "10.0.0.1", "GET", "/p1", None) for s in seconds]
    for batch in ([entry] for entry in entries):
        expected = time.strftime("[GIN] %Y/%m/%d - %H:%M:%S | ", time.localtime(batch[0][0] // 10**9))
        assert render(batch).decode().startswith(expected)
    rendered = gin_renderer()(entries).decode().splitlines()
    assert [line[:27] for line in rendered] == [
        time.strftime("[GIN] %Y/%m/%d - %H:%M:%S", time.localtime(s)) for s in seconds
    ]
