"""The guard's two paths the luabind review found untested: the subset's check of a getter's error
message (``subset_ops.checked``), and a lupa error raised by a VM runner itself (``lua/phases.py``)
mapped to the documented Lua error."""

from __future__ import annotations

import pytest

from krakenpy.errors import PipelineError
from krakenpy.lua import subset_ops as ops
from krakenpy.lua.convert import Kind
from krakenpy.lua.guard import Guard
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.lua.subset_values import Fault
from krakenpy.proxy.types import Request, Response
from tests.lua.test_setters import _IN_LUA, _script

CAP = 1024 * 1024 + 24 * 1024  # a runtime of its own


def test_checked_refuses_an_error_message_beyond_the_memory_left() -> None:
    cap = 1 << 20
    full = Guard(lambda: cap - 100, cap, lambda: None)  # 100 bytes left, nothing to collect
    message = b"bad argument #1 to 'keyExists' (string expected, got boolean)"
    with pytest.raises(Fault) as raised:
        ops.checked((Kind.ERROR, message), b"pre-script:1: ", full)
    # as Lua's guarded call of the same accessor: the memory error, without a position
    assert raised.value.args[0] == (b"error", b"not enough memory")


async def test_runner_out_of_memory_is_the_documented_lua_error() -> None:
    script = _script({"pre": "local x = 1", "max_memory": CAP, "max_instructions": _IN_LUA})
    assert script.setters is None  # the VM path: krakenpy.lua.phases
    lua = script.runtime.lua
    fill = lua.eval("function(s) FILL = s; collectgarbage('collect') end")
    clear = lua.eval("function() FILL = nil; collectgarbage('collect') end")
    proxy = proxy_middleware(script)

    async def inner(request: Request) -> Response:
        return Response(data={}, headers={}, status=200)

    request = Request(method="GET", path="/x", params={}, headers={}, query={}, url="/x", body=b"")
    clear()
    try:
        fill(b"x" * (CAP - lua.get_memory_used() - 64))  # no room for the run's env and record tables
        with pytest.raises(PipelineError) as raised:
            await proxy(inner)(request)
        assert "not enough memory" in str(raised.value)
    finally:
        clear()
    await proxy(inner)(request)  # and the runtime serves again
