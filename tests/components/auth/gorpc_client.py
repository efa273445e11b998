"""The Go revocation client of the tests (``gorpc/main.go``), compiled once per session with Debian's
``golang-go`` (``make test`` installs it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

SOURCE = Path(__file__).parent / "gorpc" / "main.go"


def build_client(directory: Path) -> Path:
    """Compile the client into ``directory`` (standard library only: no module download)."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("go is missing: make test installs golang-go")
        pytest.skip("go is not installed (make test installs Debian's golang-go)")
    binary = directory / "revoke-client"
    env = {
        **os.environ,
        "GOCACHE": str(directory / "cache"),
        "GOPATH": str(directory / "gopath"),
        "GO111MODULE": "off",
        "GOFLAGS": "",
    }
    out = subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    return binary


def run_client(binary: Path, port: int, *ops: str) -> list[dict[str, Any]]:
    """Run the calls (``add a b -- check a -- union``) over one connection; one answer each."""
    out = subprocess.run([str(binary), f"127.0.0.1:{port}", *ops], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [orjson.loads(line) for line in out.stdout.splitlines()]


async def arun_client(binary: Path, port: int, *ops: str) -> list[dict[str, Any]]:
    """:func:`run_client` for a listener served by the test's own event loop."""
    proc = await asyncio.create_subprocess_exec(
        str(binary), f"127.0.0.1:{port}", *ops, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    return [orjson.loads(line) for line in out.splitlines()]
