"""No automatic collection while a command starts (:mod:`krakenpy.startgc`); a command run in process
gives the thresholds back whatever its outcome. (``run``'s supervisor and worker: tests/server/test_startup.py.)"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from krakenpy import startgc
from krakenpy.cli import main


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The test's thresholds (unusual ones, so that a restore to CPython's defaults is not taken for
    a restore), put back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(1234, 11, 12)
    try:
        yield gc.get_threshold()
    finally:
        startgc.resume()
        gc.set_threshold(*before)


def test_pause_stops_automatic_collection_and_resume_restores(thresholds: tuple[int, int, int]) -> None:
    startgc.pause()
    assert gc.get_threshold()[0] == 0
    startgc.pause()  # nested: still the first thresholds to restore
    before = sum(generation["collections"] for generation in gc.get_stats())
    garbage = []
    for _ in range(20_000):  # ~16 default young collections' worth of container allocations
        cycle: list[object] = []
        cycle.append(cycle)
        garbage.append(cycle)
    assert sum(generation["collections"] for generation in gc.get_stats()) == before
    startgc.resume()
    assert gc.get_threshold() == thresholds
    startgc.resume()  # not paused: nothing to do
    assert gc.get_threshold() == thresholds


def _config(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "-c", "{good}", "--skip-components"],
        ["check", "-c", "{bad}"],
        ["run", "-c", "{bad}"],  # refused before any supervisor exists
        ["run", "-c", "{missing}"],
        ["version"],
        ["--no-such-flag"],
    ],
)
def test_a_command_in_process_gives_the_thresholds_back(
    tmp_path: Path, thresholds: tuple[int, int, int], argv: list[str]
) -> None:
    files = {
        "good": _config(tmp_path, {"version": 3, "endpoints": []}),
        "bad": str(tmp_path / "bad.json"),
        "missing": str(tmp_path / "missing.json"),
    }
    Path(files["bad"]).write_text('{"version": 3, "endpoints": [{"endpoint": "/x", "backend": []}], "port": "x"}')
    code = main([arg.format(**files) for arg in argv])
    assert code == (0 if argv[0] in ("version",) or argv[-1] == "--skip-components" else 1)
    assert gc.get_threshold() == thresholds
