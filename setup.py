"""Build hook: ship the top-level ``schemas/`` folder inside the package, as ``krakenpy/schemas``.

The schemas stay at the repository's top level (one file per ``extra_config`` namespace, next to
nothing else); wheels carry a copy that ``krakenpy.config.schema`` finds through
``importlib.resources``. Editable installs read the source tree's folder instead.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


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


setup(cmdclass={"build_py": BuildPyWithSchemas})
