"""A loopback country backend, an MCP config around it, and a JSON-RPC client helper."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

HITS = web.AppKey("hits", list)

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}$"}, "lang": {"type": "string"}},
    "required": ["code"],
}


async def _country(request: web.Request) -> web.Response:
    request.app[HITS].append((request.method, request.path_qs, await request.text()))
    code = request.match_info["code"]
    if code == "XX":
        return web.json_response({"message": "no such country"}, status=404)
    return web.json_response({"name": f"country {code}", "code": code, "population": 42})


async def _currency(request: web.Request) -> web.Response:
    request.app[HITS].append((request.method, request.path_qs, await request.text()))
    return web.json_response({"currency": "EUR", "for": request.match_info["code"]})


async def _pixel(request: web.Request) -> web.Response:
    request.app[HITS].append((request.method, request.path_qs, ""))
    return web.Response(body=b"\x89PNG-bytes", content_type="image/png")


def backend_app() -> web.Application:
    """``/countries/{code}`` (404 for XX), ``/currency/{code}``, ``/pixel.png``; requests in ``app[HITS]``."""
    app = web.Application()
    app[HITS] = []
    app.router.add_get("/countries/{code}", _country)
    app.router.add_get("/currency/{code}", _currency)
    app.router.add_get("/pixel.png", _pixel)
    return app


def tools(host: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "country",
            "title": "Country",
            "description": "Facts about a country",
            "input_schema": INPUT_SCHEMA,
            "output_schema": {"type": "object", "required": ["country"]},
            "return_error_msg": True,
            "workflow": {
                "endpoint": "/__mcp/country/{code}",
                "backend": [
                    {"host": [host], "url_pattern": "/countries/{code}", "group": "country"},
                    {"host": [host], "url_pattern": "/currency/{code}", "allow": ["currency"]},
                ],
            },
        },
        {
            "name": "quiet",
            "title": "Quiet",
            "description": "Fails without saying why",
            "input_schema": INPUT_SCHEMA,
            "workflow": {
                "endpoint": "/__mcp/quiet/{code}",
                "backend": [{"host": [host], "url_pattern": "/countries/{code}"}],
            },
        },
        {
            "name": "pixel",
            "title": "Pixel",
            "description": "A tiny image",
            "type": "image",
            "workflow": {
                "endpoint": "/__mcp/pixel",
                "output_encoding": "no-op",
                "backend": [{"host": [host], "url_pattern": "/pixel.png"}],
            },
        },
    ]


def mcp_config(host: str, *, stateless: bool = True, endpoint_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A service with one MCP server (the three tools above) served on ``POST /mcp``."""
    server = {
        "name": "countries",
        "title": "Country facts",
        "version": "1.2.3",
        "stateless": stateless,
        "instructions": "Ask for a country by its ISO code.",
        "tools": tools(host),
    }
    endpoint = {
        "endpoint": "/mcp",
        "method": "POST",
        "timeout": "3s",
        "backend": [{"host": ["http://ignore"], "url_pattern": "/ignore"}],
        "extra_config": {"ai/mcp": {"server_name": "countries"}, **copy.deepcopy(endpoint_extra or {})},
    }
    return {"version": 3, "endpoints": [endpoint], "extra_config": {"ai/mcp": {"servers": [server]}}}


JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def rpc(
    client: TestClient[Any, Any],
    method: str,
    params: Any = None,
    *,
    ident: int = 1,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST one request to /mcp; returns the decoded JSON-RPC response (asserting a 200 JSON answer)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    resp = await client.post("/mcp", json=message, headers={**JSON_HEADERS, **(headers or {})})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/json")
    return await resp.json()
