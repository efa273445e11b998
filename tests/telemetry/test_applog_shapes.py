"""Application-log lines against go-logging's shapes."""

from __future__ import annotations

import logging
import os
import time

import pytest

from krakenpy.telemetry.logfmt import PatternFormatter


def _record(msg: str, level: int = logging.ERROR, created: float | None = None) -> logging.LogRecord:
    record = logging.LogRecord("krakenpy.test", level, __file__, 12, msg, None, None, "fn")
    if created is not None:
        record.created = created
    return record


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("UTC0", "2026-11-30T16:00:00.5Z m"),  # Z for UTC
        ("XXX-1", "2026-11-30T17:00:00.5+01:00 m"),  # the offset alone: no literal Z before it
        ("YYY+3:30", "2026-11-30T12:30:00.5-03:30 m"),
    ],
)
def test_bare_time_verb_is_go_loggings_rfc3339_milli(zone: None, tz: str, expected: str) -> None:
    """``%{time}`` without a layout is go-logging's ``2006-01-02T15:04:05.999Z07:00`` (its doc comment's
    ``Z-07:00`` is a typo that Go would render with a literal ``Z`` before the offset)."""
    os.environ["TZ"] = tz
    time.tzset()
    line = PatternFormatter("%{time} %{message}").format(_record("m", created=1796054400.5))
    assert line == expected


@pytest.mark.parametrize(
    ("argv0", "program"),
    [
        ("/srv/venv/lib/python3.11/site-packages/krakenpy/__main__.py", "krakenpy"),  # python -m krakenpy
        ("-c", "krakenpy"),
        ("/usr/local/bin/krakenpy", "krakenpy"),
        ("/opt/gw/bin/edge-gateway", "edge-gateway"),
    ],
)
def test_program_verb_names_the_command_not_pythons_main_module(
    monkeypatch: pytest.MonkeyPatch, argv0: str, program: str
) -> None:
    monkeypatch.setattr("sys.argv", [argv0, "run"])
    assert PatternFormatter("%{program}: %{message}").format(_record("m")) == f"{program}: m"
