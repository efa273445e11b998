"""Interop: the official ``mcp`` client (PyPI ``mcp``, streamable HTTP) against a real krakenpy gateway.

Needs the ``mcp-client`` extra (``pip install -e '.[dev,mcp-client]'``); skipped without it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from tests.mcp.helpers import HITS, backend_app, mcp_config

pytest.importorskip("mcp.client.streamable_http", reason="the mcp-client extra is not installed")

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]


@pytest.mark.parametrize("stateless", [True, False])
async def test_mcp_official_client_initializes_lists_and_calls(
    backend: Start, gateway: Gateway, stateless: bool
) -> None:
    app = backend_app()
    client = await gateway(mcp_config(await backend(app), stateless=stateless))
    url = str(client.make_url("/mcp"))
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "countries"
        assert init.server_info.version == "1.2.3"
        assert init.instructions == "Ask for a country by its ISO code."
        listed = await session.list_tools()
        assert [tool.name for tool in listed.tools] == ["country", "quiet", "pixel"]
        assert listed.tools[0].input_schema["required"] == ["code"]
        result: Any = await session.call_tool("country", {"code": "PT"})
        assert result.is_error is False
        assert result.structured_content["country"]["name"] == "country PT"
        assert result.structured_content["currency"] == "EUR"
        failed: Any = await session.call_tool("quiet", {"code": "XX"})
        assert failed.is_error is True
        assert failed.content[0].text == "the tool call failed"
    assert sorted(hit[1] for hit in app[HITS]) == ["/countries/PT", "/countries/XX", "/currency/PT"]
