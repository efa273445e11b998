"""Build hooks: ship the top-level ``schemas/`` folder inside the package, as ``krakenpy/schemas``, and
compile the hot-path modules (``krakenpy/compiled.py``'s ``HOT_MODULES``) with mypyc, and build its
``NATIVE_MODULES`` (hand-written C: the OTLP span encoder, the gin access-log writer), when a wheel is
built where that can work.

The schemas stay at the repository's top level (one file per ``extra_config`` namespace, next to
nothing else); wheels carry a copy that ``krakenpy.config.schema`` finds through
``importlib.resources``. Editable installs read the source tree's folder instead.

Compilation, decided by ``KRAKENPY_COMPILE``:

- unset or ``auto``: compile a wheel (``pip install .``, ``pip wheel``) when mypyc, a C compiler and
  Python's headers are present; anything missing or failing leaves the pure-Python modules, with a
  warning, never a failed install;
- ``1``: compile, and fail the build if that cannot be done;
- ``0``: never compile.

Editable installs (``pip install -e``, ``make install``) never compile: an extension built in the
source tree would shadow the ``.py`` beside it after an edit. ``make compile`` builds in place on
purpose (``python setup.py build_ext --inplace``) and ``make clean-compiled`` removes it.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
MODE = os.environ.get("KRAKENPY_COMPILE", "auto").strip().lower() or "auto"
#: the commands that produce binaries (``pip wheel``/``install`` run ``bdist_wheel``)
_BUILDS = {"bdist_wheel", "build", "build_ext", "install", "bdist"}


class BuildPyWithSchemas(build_py):
    """``build_py`` that also copies ``schemas/**/*.json`` into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the editable finder maps krakenpy/ to the source tree, which has schemas/ beside it
        source = ROOT / "schemas"
        target = Path(self.build_lib) / "krakenpy" / "schemas"
        for path in sorted(source.rglob("*.json")):
            dest = target / path.relative_to(source)
            self.mkpath(str(dest.parent))
            self.copy_file(str(path), str(dest))


class OptionalBuildExt(build_ext):
    """``build_ext`` that, unless compilation was required, falls back to the pure-Python modules
    when the C compiler fails (their ``.py`` files are in the wheel either way)."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False):
            return  # never shadow the source tree's .py files (see the module docstring)
        try:
            super().run()
        except Exception as err:
            if MODE == "1":
                raise
            _warn(f"compiling the hot path failed ({err}); installing the pure-Python modules")
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)


def _warn(message: str) -> None:
    sys.stderr.write(f"krakenpy setup: {message}\n")


def _can_compile() -> str:
    """Why compiling the mypyc modules cannot work here ("" when it can)."""
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc (the mypy package) is not installed"
    return _can_compile_c()


def _can_compile_c() -> str:
    """Why compiling a C extension cannot work here ("" when it can)."""
    include = sysconfig.get_paths().get("include") or ""
    if not Path(include, "Python.h").is_file():
        return f"Python's headers are missing (no {include}/Python.h)"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    return ""


def _native_extensions() -> list[Any]:
    """The hand-written C extensions (``compiled.NATIVE_MODULES``: the OTLP span encoder, the gin writer), built
    under the mypyc modules' rules (:func:`_hot_extensions`) but for mypyc itself."""
    commands = set(sys.argv[1:])
    if MODE == "0" or not commands & _BUILDS or "editable_wheel" in commands or _can_compile_c():
        return []  # the reason, if any, is reported with the hot modules'
    from setuptools import Extension

    names = runpy.run_path(str(ROOT / "krakenpy" / "compiled.py"))
    return [Extension(name, [str(Path(*name.split(".")).with_suffix(".c"))]) for name in names["NATIVE_MODULES"]]


def _hot_extensions() -> list[Any]:
    """The mypyc extensions of the hot modules, or [] when this build does not compile them."""
    commands = set(sys.argv[1:])
    if MODE == "0" or not commands & _BUILDS or "editable_wheel" in commands:
        return []
    missing = _can_compile()
    if missing:
        if MODE == "1":
            raise SystemExit(f"KRAKENPY_COMPILE=1 but {missing}")
        _warn(f"{missing}: installing the pure-Python modules")
        return []
    from mypyc.build import mypycify

    names = runpy.run_path(str(ROOT / "krakenpy" / "compiled.py"))
    hot, group = names["HOT_MODULES"], names["GROUP"].removesuffix("__mypyc")
    paths = [str(Path(*name.split(".")).with_suffix(".py")) for name in hot]
    # the types mypyc needs without the project's strict settings or the stub packages of its
    # dependencies (an isolated build has neither): what cannot be imported is Any to it
    options = ["--config-file", os.devnull, "--ignore-missing-imports", "--follow-imports", "silent"]
    try:
        return list(mypycify(options + paths, opt_level="3", group_name=group))
    except (Exception, SystemExit) as err:  # mypyc reports a failed analysis with sys.exit
        if MODE == "1":
            raise
        _warn(f"mypyc could not compile the hot path ({err}); installing the pure-Python modules")
        return []


setup(
    cmdclass={"build_py": BuildPyWithSchemas, "build_ext": OptionalBuildExt},
    ext_modules=_hot_extensions() + _native_extensions(),
)
