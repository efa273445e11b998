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


def test_memory_cap_guard_names_are_methods_of_their_class() -> None:
    # a misspelt name in NO_STRING would leave that accessor guarded (slower, not wrong); a name that
    # is not a method at all would hide a rename that unguards a string getter
    from krakenpy.lua.bindings import CLASSES, NO_STRING, Bindings
    from tests.lua.test_setters import _script

    bindings: Bindings = _script({"pre": "local x = 1", "max_memory": MIB}).runtime.bindings
    for cls, names in NO_STRING.items():
        assert names <= set(CLASSES[cls].methods(bindings.store)), cls
        for name in names:
            assert bindings.getters[cls][name] is bindings.accessors[cls][name]


def test_memory_cap_guard_only_where_a_string_crosses_into_lua() -> None:
    from krakenpy.lua.setters import plan
    from tests.lua.test_setters import _script

    runtime = _script({"pre": "local x = 1", "max_memory": MIB}).runtime
    bindings = runtime.bindings
    # what Lua calls: a getter that may hand over a string is guarded, a number getter is not
    assert bindings.getters[b"request"][b"headers"] is not bindings.accessors[b"request"][b"headers"]
    assert bindings.getters[b"request"][b"body"] is not bindings.accessors[b"request"][b"body"]
    assert bindings.getters[b"response"][b"statusCode"] is bindings.accessors[b"response"][b"statusCode"]
    # a setter plan's steps make the bare calls: nothing they return is copied into Lua
    planned = plan(
        b"local r = request.load(); r:headers('X-A', 'b')",
        "pre-script",
        "pre",
        bindings.accessors,
        runtime.global_names,
        runtime.objects.objects,
        bindings.getters,
    )
    assert planned is not None and planned.steps
    assert planned.steps[0][1] is bindings.accessors[b"request"][b"headers"]


MIB = 1024 * 1024
