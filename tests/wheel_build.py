"""Build krakenpy's wheel as a user's ``pip install`` would (from an sdist of a copy of the sources,
never from an in-place build), and put a compiled wheel's extensions into a checkout.

``make test`` builds the compiled wheel once, in the background, with this module
(``python -m tests.wheel_build build OUT``), runs the pure-Python tests meanwhile, then copies that
wheel's extensions into the checkout (``python -m tests.wheel_build extract WHEEL .``) for the
compiled run of the whole suite, whose packaging test installs the same wheel into a fresh venv
(``KRAKENPY_TEST_COMPILED_WHEEL=WHEEL``): one mypyc compile instead of two (~3.5 CPU minutes each).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ["build_wheel", "extract_extensions", "run"]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "krakenpy", "schemas")


def run(
    *args: str | Path, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env} if env else None
    out = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ)
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out


def _copy_sources(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.so")  # never an in-place build
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=ignore)
        else:
            shutil.copy2(src, target / name)
    shutil.copytree(ROOT / "sample-configs", target / "sample-configs", ignore=ignore)


def build_wheel(base: Path, compile_: bool) -> Path:
    """The sdist of a copy of the sources in ``base/src/dist``, and from it the wheel in
    ``base/wheels`` (offline, no build isolation: the project venv's mypy and setuptools)."""
    src = base / "src"
    src.mkdir(parents=True)
    _copy_sources(src)
    hook = "from setuptools import build_meta; print(build_meta.build_sdist('dist'))"
    sdist = src / "dist" / run(sys.executable, "-c", hook, cwd=src).stdout.strip().splitlines()[-1]
    wheels = base / "wheels"
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
        "-w", wheels, sdist, cwd=base, timeout=1800, env={"KRAKENPY_COMPILE": "1" if compile_ else "0"},
    )  # fmt: skip
    return next(wheels.glob("krakenpy-*.whl"))


def extract_extensions(wheel: Path, dest: Path) -> list[str]:
    """Write every extension module of ``wheel`` (the hot modules' shims and the group library)
    under ``dest``, at the path an in-place build gives it; the names written."""
    names = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".so") and name.startswith("krakenpy/"):
                archive.extract(name, dest)  # extracted now: newer than the sources, so never "stale"
                names.append(name)
    if not names:
        raise SystemExit(f"{wheel}: no compiled extension in the wheel")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.wheel_build", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the compiled wheel under OUT; print its path")
    build.add_argument("out", type=Path)
    extract = commands.add_parser("extract", help="copy WHEEL's extensions into the checkout DEST")
    extract.add_argument("wheel", type=Path)
    extract.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build_wheel(args.out.resolve(), compile_=True))
    else:
        print(f"{len(extract_extensions(args.wheel, args.dest))} extensions from {args.wheel.name}")


if __name__ == "__main__":
    main()
