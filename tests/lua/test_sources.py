"""Lua sources: what ``check`` reports (real CLI), ``live`` reload, and many requests at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.lua.helpers import config, echo_app, lua_endpoint

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, lua: dict[str, object]) -> subprocess.CompletedProcess[str]:
    doc = config(lua_endpoint("http://127.0.0.1:18080", proxy_lua=lua))
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", "krakend.json"],
        cwd=tmp_path,  # sources are relative to the working directory, as in KrakenD
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_check_reports_missing_source_md5_mismatch_and_syntax_error_with_line(tmp_path: Path) -> None:
    (tmp_path / "ok.lua").write_text("function hello() return 1 end\n")
    result = _check(tmp_path, {"sources": ["ok.lua"], "pre": "hello()"})
    assert result.returncode == 0, result.stderr
    assert "Syntax OK!" in result.stdout

    result = _check(tmp_path, {"sources": ["missing.lua"], "pre": "hello()"})
    assert result.returncode == 1
    assert "modifier/lua-proxy.sources[0]" in result.stderr and "missing.lua" in result.stderr

    result = _check(tmp_path, {"sources": ["ok.lua"], "md5": {"ok.lua": "0" * 32}, "pre": "hello()"})
    assert result.returncode == 1
    assert "md5 mismatch for ok.lua" in result.stderr
    digest = hashlib.md5((tmp_path / "ok.lua").read_bytes()).hexdigest()
    assert _check(tmp_path, {"sources": ["ok.lua"], "md5": {"ok.lua": digest}, "pre": "hello()"}).returncode == 0

    (tmp_path / "bad.lua").write_text("local x = 1\nlocal y = = 2\n")
    result = _check(tmp_path, {"sources": ["bad.lua"]})
    assert result.returncode == 1
    assert "bad.lua:2: unexpected symbol near '='" in result.stderr

    # an unclosed block points at the file's last line, not at the compile wrapper's
    (tmp_path / "open.lua").write_text("local x = 1\nif x then\n  x = 2\n\n")
    result = _check(tmp_path, {"sources": ["open.lua"]})
    assert result.returncode == 1
    assert "open.lua:3: 'end' expected" in result.stderr, result.stderr

    result = _check(tmp_path, {"pre": "local = 1"})
    assert result.returncode == 1
    assert "modifier/lua-proxy" in result.stderr and ":1:" in result.stderr


async def test_live_reloads_changed_sources_without_restart(backend, gateway, tmp_path: Path) -> None:
    script = tmp_path / "live.lua"
    script.write_text("function tag() return 'one' end\n")
    host = await backend(echo_app())
    lua = {"sources": ["live.lua"], "live": True, "pre": "exit(200, {tag = tag()})"}
    client = await gateway(config(lua_endpoint(host, proxy_lua=lua), return_error_msg=True), base_dir=tmp_path)
    assert await (await client.get("/test")).json() == {"tag": "one"}
    script.write_text("function tag() return 'two, longer' end\n")
    assert await (await client.get("/test")).json() == {"tag": "two, longer"}
    # a broken edit fails requests (with the file and line) until it is fixed; the server keeps serving
    script.write_text("function tag() return end end end\n")
    resp = await client.get("/test")
    assert resp.status == 500
    assert "live.lua:1" in await resp.text()
    script.write_text("function tag() return 'three' end\n")
    assert await (await client.get("/test")).json() == {"tag": "three"}


async def test_without_live_edits_are_ignored(backend, gateway, tmp_path: Path) -> None:
    script = tmp_path / "fixed.lua"
    script.write_text("function tag() return 'one' end\n")
    host = await backend(echo_app())
    lua = {"sources": ["fixed.lua"], "pre": "exit(200, {tag = tag()})"}
    client = await gateway(config(lua_endpoint(host, proxy_lua=lua)), base_dir=tmp_path)
    assert await (await client.get("/test")).json() == {"tag": "one"}
    script.write_text("function tag() return 'two, longer' end\n")
    assert await (await client.get("/test")).json() == {"tag": "one"}


async def test_concurrent_requests_see_only_their_own_state(backend, gateway) -> None:
    # each request stores its id in a global and in a header, waits on a backend call (so runs
    # interleave), then reads both back; nothing may come from another request
    host = await backend(echo_app())
    pre = """
local r = request.load()
mine = r:headers('X-Id')
r:headers('X-Seen', mine)
"""
    post = """
local resp = response.load()
local echoed = resp:data():get('headers'):get('X-Seen')
exit(200, {global = mine, echoed = echoed})
"""
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre, "post": post}, input_headers=["X-Id"])))

    async def one(i: int) -> dict[str, str]:
        resp = await client.get("/test", headers={"X-Id": str(i)})
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]

    results = await asyncio.gather(*(one(i) for i in range(60)))
    assert results == [{"global": str(i), "echoed": str(i)} for i in range(60)]
