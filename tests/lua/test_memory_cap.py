"""A getter result bigger than the memory left fails with Lua's memory error; it never hangs the worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "body": ("pre", "local r = request.load() if r:body() == 'x' then r:headers('X-A', 'b') end"),
    "header": ("pre", "local r = request.load() if r:headers('X-Big') == 'x' then r:headers('X-A', 'b') end"),
    "response": ("post", "local r = response.load() if r:body() == 'x' then r:headers('X-A', 'b') end"),
}


def _probe(big: str, *, vm: bool) -> Any:
    phase, code = CASES[big]
    case = orjson.dumps({"phase": phase, "code": code, "vm": vm, "big": big}).decode()
    # its own process and timeout: the bug this guards against blocks the thread forever (a GIL deadlock)
    done = subprocess.run(
        [sys.executable, "-m", "tests.lua.memory_cap_probe", case],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return orjson.loads(done.stdout)


@pytest.mark.parametrize("big", sorted(CASES))
def test_memory_cap_getter_result_over_the_cap_fails_in_the_vm(big: str) -> None:
    try:
        first, then = _probe(big, vm=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung")
    assert first[0] == "error" and "not enough memory" in first[1], first
    assert first[2] == 500
    assert then[0] == "ok", then


@pytest.mark.parametrize("big", sorted(CASES))
def test_memory_cap_subset_fails_as_the_vm_does(big: str) -> None:
    assert _probe(big, vm=False) == _probe(big, vm=True)
