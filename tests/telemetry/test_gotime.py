from __future__ import annotations

import time

import pytest

from krakenpy.telemetry.gotime import compile_layout, go_duration, utc_offset


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (950, "950ns"),
        (1_000, "1µs"),
        (4_529, "4.529µs"),
        (1_234_567, "1.234567ms"),
        (143_655_729, "143.655729ms"),
        (2_500_000_000, "2.5s"),
        (63_000_000_000, "1m3s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-1_500_000, "-1.5ms"),
    ],
)
def test_go_duration_matches_go(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_utc_offset_forms() -> None:
    assert utc_offset(3600, False) == "+0100"
    assert utc_offset(-5400, True) == "-01:30"


def test_compile_layout_krakend_default_pattern() -> None:
    t = time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1)) + 0.637
    assert compile_layout("2006/01/02 - 15:04:05.000")(t) == "2024/05/30 - 19:08:07.637"


def test_compile_layout_literal_offset_of_logstash_pattern() -> None:
    t = time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))
    assert compile_layout("2006-01-02T15:04:05.000+00:00")(t) == "2024-05-30T19:08:07.000+00:00"


def test_compile_layout_named_and_trimmed_fraction() -> None:
    assert compile_layout("rfc3339", utc=True)(0.5) == "1970-01-01T00:00:00Z"
    assert compile_layout("05.999", utc=True)(1.25) == "01.25"
    assert compile_layout("05.999", utc=True)(1.0) == "01"
    assert compile_layout("Mon Jan _2 3:04PM", utc=True)(0) == "Thu Jan  1 12:00AM"
