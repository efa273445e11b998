"""Every module imports on its own, first (no import cycle hides behind a friendlier import order)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# krakenpy's modules from their source even on a compiled build: an extension module cannot be
# initialised twice in one process, and the import order this test checks is the source's (the
# group library of a compiled build has no source: skipped)
SCRIPT = """
import importlib, importlib.machinery as machinery, os, pkgutil, sys
package = os.path.join(os.getcwd(), "krakenpy")
source_only = machinery.FileFinder.path_hook((machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES))
def hook(path):
    if not os.path.abspath(path).startswith(package):
        raise ImportError(path)
    return source_only(path)
sys.path_hooks.insert(0, hook)
sys.path_importer_cache.clear()
import krakenpy
found = pkgutil.walk_packages(krakenpy.__path__, "krakenpy.")
names = [m.name for m in found if not m.name.endswith(("__main__", "__mypyc"))]
failed = []
for name in names:
    for loaded in [k for k in sys.modules if k == "krakenpy" or k.startswith("krakenpy.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert int(out[0]) > 40
    assert [line for line in out[1:] if line] == []
