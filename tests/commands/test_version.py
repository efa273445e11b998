"""``krakenpy version``: krakenpy, Python, Lua and the key libraries, one per line."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from krakenpy import __version__
from krakenpy.commands.version import LIBRARIES, version_lines
from krakenpy.compiled import in_checkout, leftovers


def test_version_lines_name_every_key_library_with_its_installed_version() -> None:
    lines = version_lines()
    assert lines[0] == f"krakenpy {__version__}"
    assert lines[1].startswith(f"Python {sys.version.split()[0]} (")
    assert lines[2].startswith("Lua 5.4")
    for name in LIBRARIES:
        expected = metadata.version(name) if name != "uvloop" or sys.platform != "win32" else "not installed"
        assert f"{name} {expected}" in lines


def test_version_cli_prints_them() -> None:
    out = subprocess.run([sys.executable, "-m", "krakenpy", "version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.splitlines() == version_lines()


def test_version_lines_say_whether_the_hot_path_is_compiled() -> None:
    import krakenpy.server.connection

    line = next(line for line in version_lines() if line.startswith("hot path: "))
    if krakenpy.server.connection.__file__.endswith(".py"):
        assert line == "hot path: pure Python"
    else:
        assert line.startswith("hot path: compiled (mypyc, ") and "stale" not in line


def test_version_leftovers_name_extensions_that_are_not_hot_modules(tmp_path: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    package = tmp_path / "krakenpy"
    (package / "backends").mkdir(parents=True)
    for name in ("backends/fastclient", "backends/dropped", "hot__mypyc", "gone"):
        (package / f"{name}{suffix}").write_bytes(b"")
    (package / "backends" / "dropped.py").write_text("")
    assert leftovers(str(package)) == ["krakenpy.backends.dropped", "krakenpy.gone"]


def test_version_leftovers_none_in_the_package_after_a_build() -> None:
    assert leftovers() == []  # make compile builds the hot modules only; make clean-compiled removes all


def test_version_only_a_checkout_has_stale_extensions(tmp_path: Path) -> None:
    package = tmp_path / "krakenpy"
    package.mkdir()
    assert not in_checkout(str(package))  # installed: pip writes the .py and .so files in its own order
    (tmp_path / "setup.py").write_text("")
    assert in_checkout(str(package))  # make compile's in-place build, where an edited .py goes stale
    assert in_checkout()  # this test runs from the source tree
