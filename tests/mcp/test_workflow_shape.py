"""Corpus 017's workflow shape with loopback backends: a REST backend, a GraphQL backend whose
variables take the tool's argument, and a sequential third call using the first one's answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.mcp.helpers import rpc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]
SEEN = web.AppKey("seen", list)


async def _rest(request: web.Request) -> web.Response:
    request.app[SEEN].append(("rest", request.path_qs))
    return web.json_response({"name": {"common": "Spain"}, "capitalLat": 40.4, "capitalLng": -3.7})


async def _graphql(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[SEEN].append(("graphql", body["variables"]))
    return web.json_response({"data": {"country": {"currency": "EUR", "code": body["variables"]["code"]}}})


async def _weather(request: web.Request) -> web.Response:
    request.app[SEEN].append(("weather", request.path_qs))
    return web.json_response({"temperature": 21})


def _app() -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app.router.add_get("/v3.1/alpha/{code}", _rest)
    app.router.add_post("/graphql", _graphql)
    app.router.add_get("/v1/forecast", _weather)
    return app


def _doc(host: str) -> dict[str, Any]:
    tool = {
        "name": "get_country_info",
        "title": "Get Country Information",
        "description": "Country data from REST and GraphQL, and the weather at the capital",
        "type": "text",
        "input_schema": {
            "type": "object",
            "properties": {"country_code": {"type": "string", "pattern": "^[A-Z]{2}$"}},
            "required": ["country_code"],
        },
        "return_error_msg": True,
        "workflow": {
            "endpoint": "/__mcp/country-info/{country_code}",
            "backend": [
                {
                    "host": [host],
                    "url_pattern": "/v3.1/alpha/{country_code}",
                    "group": "rest_data",
                },
                {
                    "host": [host],
                    "url_pattern": "/graphql",
                    "target": "data.country",
                    "group": "graphql_data",
                    "extra_config": {
                        "backend/graphql": {
                            "type": "query",
                            "query": "query C($code: ID!) { country(code: $code) { currency } }",
                            "variables": {"code": "{country_code}"},
                        }
                    },
                },
                {
                    "host": [host],
                    "url_pattern": "/v1/forecast?latitude={resp0_rest_data.capitalLat}"
                    "&longitude={resp0_rest_data.capitalLng}",
                    "group": "weather_data",
                },
            ],
            "extra_config": {
                "proxy": {
                    "sequential": True,
                    "sequential_propagated_params": ["resp0_rest_data.capitalLat", "resp0_rest_data.capitalLng"],
                }
            },
        },
    }
    server = {"name": "country-weather", "title": "Country Weather info", "version": "1.0.0", "stateless": True}
    endpoint = {
        "endpoint": "/mcp",
        "method": "POST",
        "timeout": "15s",
        "backend": [{"url_pattern": "/ignore", "host": ["http://ignore"]}],
        "extra_config": {"ai/mcp": {"server_name": "country-weather"}},
    }
    return {
        "version": 3,
        "endpoints": [endpoint],
        "extra_config": {"ai/mcp": {"servers": [{**server, "tools": [tool]}]}},
    }


async def test_mcp_workflow_fills_url_graphql_and_sequential_placeholders(backend: Start, gateway: Gateway) -> None:
    app = _app()
    client = await gateway(_doc(await backend(app)))
    params = {"name": "get_country_info", "arguments": {"country_code": "ES"}}
    result = (await rpc(client, "tools/call", params))["result"]
    assert result["isError"] is False, result
    data = result["structuredContent"]
    assert data["rest_data"]["name"]["common"] == "Spain"
    assert data["graphql_data"] == {"currency": "EUR", "code": "ES"}
    assert data["weather_data"] == {"temperature": 21}
    assert app[SEEN] == [
        ("rest", "/v3.1/alpha/ES"),
        ("graphql", {"code": "ES"}),
        ("weather", "/v1/forecast?latitude=40.4&longitude=-3.7"),
    ]
