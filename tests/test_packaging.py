"""A non-editable install works: build the sdist and, from it, the wheel (offline, no build isolation),
install the wheel into a fresh venv that sees the project venv's dependencies but not the source
tree, then run ``check``, ``run`` and one request from outside the checkout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.wheel_build import build_wheel
from tests.wheel_build import run as _run


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv, the built wheel), pure Python (``KRAKENPY_COMPILE=0``)."""
    base = tmp_path_factory.mktemp("packaging")
    return _install(base, build_wheel(base, compile_=False))


#: compiling the hot path takes minutes: ``make test`` builds that wheel once (``tests/wheel_build.py``)
#: and names it here; ``1`` builds it in this test
COMPILED_WHEEL = os.environ.get("KRAKENPY_TEST_COMPILED_WHEEL", "")


@pytest.fixture(scope="module", autouse=True)
def _no_pythonpath() -> Iterator[None]:
    """The install and the installed package's processes run without the ``PYTHONPATH`` the suite
    may run with: a checkout on that path made pip take the package as installed already and the
    processes import the checkout instead of the wheel."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONPATH", raising=False)
        yield


@pytest.fixture(scope="module")
def installed_compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv, the built wheel), the hot path compiled by mypyc (``KRAKENPY_COMPILE=1``)."""
    if not COMPILED_WHEEL:
        pytest.skip("the compiled wheel is built by make test (KRAKENPY_TEST_COMPILED_WHEEL=1 or a wheel's path)")
    base = tmp_path_factory.mktemp("packaging-compiled")
    wheel = build_wheel(base, compile_=True) if COMPILED_WHEEL == "1" else Path(COMPILED_WHEEL)
    return _install(base, wheel)


def _install(base: Path, wheel: Path) -> tuple[Path, Path]:
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=base)
    # dependencies come from the project venv, appended after the fresh venv's own site-packages
    # (a plain path line: the editable install's finder in that folder is not activated)
    purelib = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base).stdout.strip()
    )
    (purelib / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, wheel


def test_packaging_sdist_and_wheel_carry_schemas_and_license(installed: tuple[Path, Path]) -> None:
    _venv, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "krakenpy/schemas/krakend.json" in names
    assert "krakenpy/schemas/backend/lambda.json" in names
    assert "krakenpy/lua/prelude.lua" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    sdist = next((wheel.parent.parent / "src" / "dist").glob("krakenpy-*.tar.gz"))
    members = tarfile.open(sdist).getnames()
    assert any(m.endswith("/schemas/krakend.json") for m in members)
    assert any(m.endswith("/LICENSE") for m in members)


def test_packaging_wheel_carries_every_data_file_of_the_package(installed: tuple[Path, Path]) -> None:
    """Every file of the source package the code reads at run time (the Lua scripts beside their
    modules: the prelude, the rate limit's and the quota's Redis scripts) is in the wheel: a file left
    out fails only where it is read, in an installed gateway, never in the checkout."""
    _venv, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "krakenpy"
    data = sorted(
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc", ".so")
    )
    assert "krakenpy/quota/quota.lua" in data
    assert [name for name in data if name not in names] == []


def test_packaging_installed_wheel_loads_the_quota_script(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """``governance/processors`` reads its Redis script when its module is imported (every config that
    counts quotas): from an installed wheel too."""
    venv, _wheel = installed
    out = _run(
        venv / "bin" / "python",
        "-c",
        "import krakenpy.quota.processor as p; print(p.__file__); print('redis.call' in p.SCRIPT)",
        cwd=tmp_path,
    )
    module, found = out.stdout.split()
    assert module.startswith(str(venv)) and found == "True", out.stdout


def test_packaging_installed_wheel_checks_and_serves(installed: tuple[Path, Path], tmp_path: Path) -> None:
    venv, wheel = installed
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".so")]
    _checks_and_serves(venv, tmp_path, "hot path: pure Python")


@pytest.mark.timeout(1200)
def test_packaging_compiled_wheel_imports_and_serves(installed_compiled: tuple[Path, Path], tmp_path: Path) -> None:
    venv, wheel = installed_compiled
    names = zipfile.ZipFile(wheel).namelist()
    assert "krakenpy/server/connection.py" in names  # the sources travel with the extensions
    assert any(n.startswith("krakenpy/server/connection.") and n.endswith(".so") for n in names)
    assert any(n.startswith("krakenpy/hot__mypyc.") for n in names)
    # the native span encoder and gin writer (compiled.NATIVE_MODULES) are built with them, their sources in the sdist
    assert any(n.startswith("krakenpy/telemetry/trace/_spanwire.") and n.endswith(".so") for n in names)
    assert any(n.startswith("krakenpy/telemetry/_ginwire.") and n.endswith(".so") for n in names)
    _checks_and_serves(venv, tmp_path, "hot path: compiled (mypyc, ", "and native (_spanwire, _ginwire)")


def _checks_and_serves(venv: Path, tmp_path: Path, hot_path: str, native: str = "") -> None:
    python, cli = venv / "bin" / "python", venv / "bin" / "krakenpy"
    where = _run(
        python, "-c", "import krakenpy.config.schema as s; print(s.__file__); print(s.schema_root())", cwd=tmp_path
    )
    module, schemas = where.stdout.split()
    assert module.startswith(str(venv)) and schemas.startswith(str(venv)), where.stdout
    sample = ROOT / "sample-configs" / "aggregation.json"
    checked = _run(cli, "check", "-c", sample, cwd=tmp_path)
    assert "Syntax OK!" in checked.stdout
    version = _run(cli, "version", cwd=tmp_path).stdout
    assert version.startswith("krakenpy ")
    hot = next(line for line in version.splitlines() if line.startswith("hot path: "))
    # nothing named stale or left over: an installed wheel's files are written in pip's order, not built
    assert hot.startswith(hot_path) and ";" not in hot and native in hot, version
    assert native or "native" not in hot, version  # the pure wheel builds no extension

    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps(
            {
                "version": 3,
                "port": port,
                "echo_endpoint": True,
                "endpoints": [
                    {
                        "endpoint": "/echo",
                        "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/x", "allow": ["req_uri"]}],
                    }
                ],
            }
        )
    )
    proc = subprocess.Popen(
        [str(cli), "run", "-c", str(config), "-w", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from tests.cli_gateway import wait_http

        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/echo", timeout=5) as resp:
            assert json.loads(resp.read()) == {"req_uri": "/__echo/x"}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
