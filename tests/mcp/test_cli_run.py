"""``krakenpy run`` (the real CLI, two workers) serving an MCP server: a stateful session opened on
one worker is served by every worker (sessions are never looked up), tools/call reaches the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.conftest import free_port
from tests.mcp.helpers import HITS, JSON_HEADERS, backend_app, mcp_config
from tests.server.process import Gateway, wait_http, write_json

Start = Callable[[web.Application], Awaitable[str]]


async def test_mcp_cli_run_serves_a_stateful_session_on_every_worker(backend: Start, tmp_path: Path) -> None:
    app = backend_app()
    port = free_port()
    doc = {**mcp_config(await backend(app), stateless=False), "port": port}
    gateway = Gateway(write_json(tmp_path / "krakend.json", doc), "-w", "2", cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_http, url + "/__health")
        # a new connection per request: the kernel spreads them over both workers
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}
            async with http.post(url + "/mcp", json=init, headers=JSON_HEADERS) as resp:
                assert resp.status == 200
                session = resp.headers["Mcp-Session-Id"]
                assert (await resp.json())["result"]["protocolVersion"] == "2025-06-18"
            headers = {**JSON_HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
            for i in range(1, 9):
                params = {"name": "quiet", "arguments": {"code": "NO"}}
                message = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}
                async with http.post(url + "/mcp", json=message, headers=headers) as resp:
                    assert resp.status == 200
                    answer = await resp.json()
                assert answer["id"] == i
                assert answer["result"]["structuredContent"]["code"] == "NO"
            async with http.post(url + "/mcp", data=b"{", headers=headers) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"]["code"] == -32700
    finally:
        assert gateway.stop() == 0
    assert len(app[HITS]) == 8
    assert "Traceback" not in gateway.log
