"""Tool failures on a real gateway: the workflow's own timeout, no-op backends that fail, input and
backend data nested too deeply for JSON (no traceback in the logs), a placeholder without argument."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.mcp.helpers import JSON_HEADERS, backend_app, mcp_config, rpc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]
CALL = {"name": "quiet", "arguments": {"code": "ES"}}


def _tools(doc: dict[str, Any]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"]
    return tools


async def test_mcp_workflow_timeout_bounds_a_single_backend(backend: Start, gateway: Gateway) -> None:
    """The workflow's ``timeout`` (200ms) ends its call, though the entry point allows 3s."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.json_response({"late": True})

    app = web.Application()
    app.router.add_get("/slow", slow)
    host = await backend(app)
    doc = mcp_config(host)
    tool = _tools(doc)[1]
    tool["return_error_msg"] = True
    tool["workflow"] = {
        "endpoint": "/__mcp/slow",
        "timeout": "200ms",
        "backend": [{"host": [host], "url_pattern": "/slow"}],
    }
    client = await gateway(doc)
    result = (await rpc(client, "tools/call", CALL))["result"]
    assert result["isError"] is True
    assert "deadline" in result["content"][0]["text"]


@pytest.mark.parametrize("tell", [False, True])
async def test_mcp_no_op_backend_failure_is_an_is_error_result(backend: Start, gateway: Gateway, tell: bool) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom", "token": "internal"}, status=500)

    app = web.Application()
    app.router.add_get("/fail", fail)
    host = await backend(app)
    doc = mcp_config(host)
    for tool in _tools(doc)[1:]:  # quiet (text) and pixel (image)
        tool["return_error_msg"] = tell
        tool["workflow"] = {
            "endpoint": "/__mcp/f",
            "output_encoding": "no-op",
            "backend": [{"host": [host], "url_pattern": "/fail"}],
        }
    client = await gateway(doc)
    for name in ("quiet", "pixel"):
        result = (await rpc(client, "tools/call", {"name": name, "arguments": {"code": "ES"}}))["result"]
        assert result["isError"] is True
        text = result["content"][0]["text"]
        if tell:
            assert "500" in text and "boom" in text
        else:
            assert text == "the tool call failed"


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def _post(client: Any, body: bytes) -> Any:
    resp = await client.post("/mcp", data=body, headers=JSON_HEADERS)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_mcp_deep_tool_name_fails_without_a_traceback(
    backend: Start, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    name = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":' + _deep(1000) + b"}}"
    with caplog.at_level(logging.DEBUG):
        answer = await _post(client, name)
    assert answer["error"] == {"code": -32602, "message": '"name" must be a string, not an array'}
    assert not [record for record in caplog.records if record.exc_info]


async def test_mcp_deep_arguments_fail_without_a_traceback(
    backend: Start, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """orjson reads 1024 levels and writes 254: arguments in between cannot become the workflow's body."""
    client = await gateway(mcp_config(await backend(backend_app())))
    arguments = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"pixel","arguments":{"x":'
    with caplog.at_level(logging.DEBUG):
        answer = await _post(client, arguments + _deep(600) + b"}}}")
    assert answer["result"] == {
        "content": [{"type": "text", "text": "invalid arguments: nested too deeply"}],
        "isError": True,
    }
    assert not [record for record in caplog.records if record.exc_info]


async def test_mcp_deep_backend_data_fails_without_a_traceback(
    backend: Start, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b'{"a":' + _deep(400) + b"}", content_type="application/json")

    app = web.Application()
    app.router.add_get("/deep", deep)
    host = await backend(app)
    doc = mcp_config(host)
    tool = _tools(doc)[1]
    tool["return_error_msg"] = True
    tool["workflow"] = {"endpoint": "/__mcp/d", "backend": [{"host": [host], "url_pattern": "/deep"}]}
    client = await gateway(doc)
    with caplog.at_level(logging.DEBUG):
        result = (await rpc(client, "tools/call", CALL))["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "the result is nested too deeply"
    assert not [record for record in caplog.records if record.exc_info]


async def test_mcp_placeholder_without_its_argument_is_empty(backend: Start, gateway: Gateway) -> None:
    seen: list[str] = []

    async def any_path(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"ok": 1})

    app = web.Application()
    app.router.add_get("/{tail:.*}", any_path)
    host = await backend(app)
    doc = mcp_config(host)
    tool = _tools(doc)[1]
    tool["workflow"] = {
        "endpoint": "/__mcp/q/{code}/{lang}",
        "backend": [{"host": [host], "url_pattern": "/c/{code}?lang={lang}"}],
    }
    client = await gateway(doc)
    result = (await rpc(client, "tools/call", CALL))["result"]  # INPUT_SCHEMA: lang is optional
    assert result["isError"] is False
    assert seen == ["/c/ES?lang="]
    assert orjson.loads(result["content"][0]["text"]) == {"ok": 1}


async def test_mcp_backend_data_at_the_depth_limit_is_answered(backend: Start, gateway: Gateway) -> None:
    """Data orjson writes alone (252 levels) is still written inside the JSON-RPC answer, batch or not."""

    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b'{"a":' + _deep(252) + b"}", content_type="application/json")

    app = web.Application()
    app.router.add_get("/deep", deep)
    host = await backend(app)
    doc = mcp_config(host)
    _tools(doc)[1]["workflow"] = {"endpoint": "/__mcp/d", "backend": [{"host": [host], "url_pattern": "/deep"}]}
    client = await gateway(doc)
    result = (await rpc(client, "tools/call", CALL))["result"]
    assert result["isError"] is False
    assert orjson.loads(result["content"][0]["text"]) == result["structuredContent"]
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": CALL}
    resp = await client.post("/mcp", json=[call], headers={**JSON_HEADERS, "MCP-Protocol-Version": "2025-03-26"})
    assert resp.status == 200
    assert (await resp.json())[0]["result"]["isError"] is False
