"""The run directory of ``run -w N``: made private, a worker's snapshot kept when it exits, removed
whole; none (and a warning) where no directory can be made, instead of a failed start."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

import pytest

from krakenpy.server import rundir


def test_made_private_retired_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path / "no-shm"))  # no /dev/shm: the temporary directory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = rundir.create()
    assert made is not None and Path(made).parent == tmp_path
    assert Path(made).name.startswith(f"krakenpy-{os.getpid()}-")
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    Path(made, rundir.live_name(42)).write_text("{}")
    rundir.retire(made, 42)
    rundir.retire(made, 43)  # never wrote one: nothing to keep, no error
    assert os.listdir(made) == ["gone-42.json"]
    rundir.remove(made)
    assert not os.path.exists(made)


def _no_temporary_directory() -> str:
    raise FileNotFoundError(2, "No usable temporary directory found")


def _read_only(**_kwargs: object) -> str:
    raise OSError(30, "Read-only file system")


@pytest.mark.parametrize("patch", ["gettempdir", "mkdtemp"])
def test_no_usable_directory_is_a_warning(
    patch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only root file system without /dev/shm: gettempdir() finds no usable directory, or
    the one it names refuses a new one. The gateway still starts (a scrape shows worker 1's only)."""
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path / "no-shm"))
    if patch == "gettempdir":
        monkeypatch.setattr(tempfile, "gettempdir", _no_temporary_directory)
    else:
        monkeypatch.setattr(tempfile, "mkdtemp", _read_only)
    with caplog.at_level(logging.WARNING, logger="krakenpy"):
        assert rundir.create() is None
    assert "no run directory for the workers' metrics" in caplog.text


def test_directories_of_killed_gateways_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway whose processes were all killed at once left its directory: the next one removes
    it; a running gateway's (this process stands for its supervisor) and other names stay."""
    import subprocess
    import sys

    monkeypatch.setattr(rundir, "_SHM", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f"krakenpy-{int(dead.stdout)}-abc"
    running = tmp_path / f"krakenpy-{os.getppid()}-def"
    for path in (gone, running, tmp_path / "krakenpy-x-y", tmp_path / "other-1-z"):
        path.mkdir()
    (gone / "live-1.json").write_text("{}")
    made = rundir.create()
    assert made is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, "krakenpy-x-y", "other-1-z", Path(made).name]
    )
