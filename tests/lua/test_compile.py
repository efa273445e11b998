"""Compiling Lua runs none of it: a source that tries to close the compile wrapper and run its own top
level is a syntax error, found by ``check`` and ``run`` without hanging; line numbers stay exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.lua.runtime import LuaCompileError, Runtime
from tests.lua.helpers import config, echo_app, lua_endpoint

ROOT = Path(__file__).resolve().parents[2]

#: each closes the `function(_ENV, ...)` a text wrapper would add, runs a loop, then reopens one
ESCAPES = [
    "end, (function() while true do end end)(), function(_ENV, ...)",
    "end; local _ = (function() while true do end end)(); return function(_ENV, ...)",
    "end\nwhile true do end\nreturn function(...)",
    "end)(function() while true do end end)(function()",
]


@pytest.fixture
def runtime() -> Runtime:
    return Runtime(AiohttpClient(ClientOptions()), open_libs=False, max_memory=16 * 1024 * 1024)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("source", ESCAPES)
def test_compile_escape_is_a_syntax_error(runtime: Runtime, source: str) -> None:
    with pytest.raises(LuaCompileError) as info:
        runtime.compile(source.encode(), "pre-script")
    assert str(info.value).startswith("pre-script:")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", ESCAPES[:2])
def test_check_rejects_compile_escape_without_hanging(tmp_path: Path, source: str) -> None:
    doc = config(lua_endpoint("http://127.0.0.1:18080", proxy_lua={"pre": source}))
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    result = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", "krakend.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1
    assert "lua syntax error: pre-script:1:" in result.stderr, result.stderr


@pytest.mark.timeout(10)
def test_compile_keeps_line_numbers_exact(runtime: Runtime) -> None:
    with pytest.raises(LuaCompileError, match=r"^pre-script:3: unexpected symbol near '='"):
        runtime.compile(b"local a = 1\n\nlocal b = = 2\n", "pre-script")
    with pytest.raises(LuaCompileError, match=r"^x\.lua:2: 'end' expected \(to close 'if' at line 1\) near <eof>"):
        runtime.compile(b"if true then\n  local a = 1\n\n\n", "x.lua")
    # a shebang line is a comment, and a chunk may end with a return
    assert runtime.compile(b"#!/usr/bin/env lua\nlocal x = ...\nreturn x", "s.lua") is not None


async def test_runtime_error_lines_are_exact(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = "-- line 1\nlocal r = request.load()\n\nr:headers('X-A', {})\n"
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert (await resp.text()).endswith("(pre-script:L4)")
