"""The MCP protocol on a real gateway: initialize, ping, tools/list, tools/call, JSON-RPC errors."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.mcp.helpers import HITS, INPUT_SCHEMA, JSON_HEADERS, backend_app, mcp_config, rpc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]


@pytest.mark.parametrize(
    ("asked", "agreed"), [("2025-06-18", "2025-06-18"), ("2024-11-05", "2024-11-05"), ("1999-01-01", "2025-11-25")]
)
async def test_mcp_initialize_answers_the_server_and_a_version(
    backend: Start, gateway: Gateway, asked: str, agreed: str
) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    params = {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    answer = await rpc(client, "initialize", params, ident=7)
    assert answer["id"] == 7
    result = answer["result"]
    assert result["protocolVersion"] == agreed
    assert result["serverInfo"] == {"name": "countries", "title": "Country facts", "version": "1.2.3"}
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["instructions"] == "Ask for a country by its ISO code."


async def test_mcp_ping_and_tools_list(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    assert (await rpc(client, "ping", ident="p"))["result"] == {}
    tools = (await rpc(client, "tools/list"))["result"]["tools"]
    assert [t["name"] for t in tools] == ["country", "quiet", "pixel"]
    country = tools[0]
    assert country["title"] == "Country"
    assert country["description"] == "Facts about a country"
    assert country["inputSchema"] == INPUT_SCHEMA
    assert country["outputSchema"] == {"type": "object", "required": ["country"]}
    assert "outputSchema" not in tools[1]
    assert tools[2]["inputSchema"] == {"type": "object"}  # no input_schema: any object


async def test_mcp_tools_call_runs_the_workflow_backends_and_merges(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    client = await gateway(mcp_config(await backend(app)))
    answer = await rpc(client, "tools/call", {"name": "country", "arguments": {"code": "ES", "lang": "es"}})
    result = answer["result"]
    expected = {"country": {"name": "country ES", "code": "ES", "population": 42}, "currency": "EUR"}
    assert result["isError"] is False
    assert result["structuredContent"] == expected
    assert result["content"] == [{"type": "text", "text": orjson.dumps(expected).decode()}]
    assert sorted(hit[1] for hit in app[HITS]) == ["/countries/ES", "/currency/ES"]
    # the MCP endpoint's own backend is never called: its host does not even resolve


async def test_mcp_tools_call_checks_arguments_against_the_input_schema(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    client = await gateway(mcp_config(await backend(app)))
    result = (await rpc(client, "tools/call", {"name": "country", "arguments": {"code": "spain"}}))["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("invalid arguments: ")
    assert "spain" in result["content"][0]["text"]
    result = (await rpc(client, "tools/call", {"name": "country"}))["result"]  # no arguments: {}
    assert result["isError"] is True
    assert '"code" is a required property' in result["content"][0]["text"]
    assert app[HITS] == []


async def test_mcp_backend_failure_is_an_is_error_result(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    result = (await rpc(client, "tools/call", {"name": "quiet", "arguments": {"code": "XX"}}))["result"]
    assert result == {"content": [{"type": "text", "text": "the tool call failed"}], "isError": True}
    # with return_error_msg, the error says what happened; here the merge kept the currency half,
    # which lacks the output_schema's "country"
    result = (await rpc(client, "tools/call", {"name": "country", "arguments": {"code": "XX"}}))["result"]
    assert result["isError"] is True
    assert "output_schema" in result["content"][0]["text"]


async def test_mcp_image_tool_returns_base64_media(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    result = (await rpc(client, "tools/call", {"name": "pixel", "arguments": {}}))["result"]
    assert result["isError"] is False
    assert result["content"] == [
        {"type": "image", "data": base64.b64encode(b"\x89PNG-bytes").decode(), "mimeType": "image/png"}
    ]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "country", "arguments": [1]}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["country"]}, -32602),
    ],
)
async def test_mcp_protocol_errors_are_json_rpc_errors(
    backend: Start, gateway: Gateway, message: dict[str, Any], code: int
) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    resp = await client.post("/mcp", json=message, headers=JSON_HEADERS)
    assert resp.status == 200
    answer = await resp.json()
    assert answer["id"] == 1
    assert answer["error"]["code"] == code


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, -32700),
        (b"", {}, 400, -32700),
        (b"[]", {}, 400, -32600),
        (b"[" + b",".join([b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'] * 101) + b"]", {}, 400, -32600),
        (b'{"id": 1, "method": "ping"}', {}, 400, -32600),  # no "jsonrpc": "2.0"
        (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', {}, 400, -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', {}, 400, -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"Content-Type": "text/plain"}, 415, -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"Accept": "text/html"}, 406, -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"MCP-Protocol-Version": "2020-01-01"}, 400, -32600),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', {"MCP-Protocol-Version": "2025-06-18"}, 400, -32600),
    ],
)
async def test_mcp_bad_requests_are_4xx_with_a_json_rpc_error(
    backend: Start, gateway: Gateway, body: bytes, headers: dict[str, str], status: int, code: int
) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    resp = await client.post("/mcp", data=body, headers={**JSON_HEADERS, **headers})
    assert resp.status == status
    answer = await resp.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code


async def test_mcp_notifications_and_responses_get_202_without_a_body(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        {"jsonrpc": "2.0", "id": 9, "result": {}},
    ):
        resp = await client.post("/mcp", json=message, headers=JSON_HEADERS)
        assert resp.status == 202
        assert await resp.read() == b""


async def test_mcp_batch_before_2025_06_18_answers_each_request(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "country", "arguments": {"code": "FR"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
        "garbage",
    ]
    headers = {**JSON_HEADERS, "MCP-Protocol-Version": "2025-03-26"}
    resp = await client.post("/mcp", json=batch, headers=headers)
    assert resp.status == 200
    answers = await resp.json()
    assert [a["id"] for a in answers] == [1, 2, 3, None]
    assert answers[0]["result"] == {}
    assert answers[1]["result"]["structuredContent"]["country"]["code"] == "FR"
    assert answers[2]["error"]["code"] == -32601
    assert answers[3]["error"]["code"] == -32600
    resp = await client.post("/mcp", json=batch[1:2], headers=headers)  # only notifications
    assert resp.status == 202


async def test_mcp_get_is_405(backend: Start, gateway: Gateway) -> None:
    doc = mcp_config(await backend(backend_app()))
    doc["endpoints"].append({**doc["endpoints"][0], "method": "GET"})
    client = await gateway(doc)
    resp = await client.get("/mcp", headers={"Accept": "text/event-stream"})
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"


async def test_mcp_slow_backend_ends_as_an_is_error_result_within_the_deadline(
    backend: Start, gateway: Gateway
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/slow", slow)
    host = await backend(app)
    doc = mcp_config(host)
    doc["endpoints"][0]["timeout"] = "300ms"
    tool = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][1]
    tool["return_error_msg"] = True
    tool["workflow"] = {"endpoint": "/__mcp/slow", "backend": [{"host": [host], "url_pattern": "/slow"}]}
    client = await gateway(doc)
    result = (await rpc(client, "tools/call", {"name": "quiet", "arguments": {"code": "ES"}}))["result"]
    assert result["isError"] is True
    assert "deadline" in result["content"][0]["text"]
