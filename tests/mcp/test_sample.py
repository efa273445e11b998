"""``sample-configs/mcp.json`` serves its tools from the demo backend (a merge and a sequence)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from krakenpy.gateway import load as load_service
from tests.conftest import ROOT
from tests.mcp.helpers import rpc

Gateway = Callable[..., Awaitable[Any]]


async def test_mcp_sample_tools_answer_from_the_demo_backend(gateway: Gateway) -> None:
    sys.path.insert(0, str(ROOT / "sample-configs"))
    try:
        import demo_backend
    finally:
        sys.path.pop(0)
    server = TestServer(demo_backend.make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        # the sample's workflows take the service's host: the demo backend's port replaces it
        raw = load_service(ROOT / "sample-configs" / "mcp.json").service.raw
        doc = {**raw, "host": [f"http://127.0.0.1:{server.port}"]}
        client = await gateway(doc)
        names = [t["name"] for t in (await rpc(client, "tools/list"))["result"]["tools"]]
        assert names == ["user_profile", "post_with_author"]
        profile = (await rpc(client, "tools/call", {"name": "user_profile", "arguments": {"id": "1"}}))["result"]
        assert profile["isError"] is False
        assert set(profile["structuredContent"]) == {"user", "posts"}
        post = (await rpc(client, "tools/call", {"name": "post_with_author", "arguments": {"id": "20"}}))["result"]
        assert post["isError"] is False
        assert set(post["structuredContent"]["author"]) == {"name"}
        bad = (await rpc(client, "tools/call", {"name": "post_with_author", "arguments": {"id": "x"}}))["result"]
        assert bad["isError"] is True
    finally:
        await server.close()
