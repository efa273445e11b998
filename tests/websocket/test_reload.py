"""A gateway that closes (a reload retiring it, a shutdown) ends its live sessions with 1001."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.conftest import make_config
from tests.server.wirekit import gateway_server
from tests.websocket.kit import Seen, echo_app, multiplex_app, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def test_reload_closing_gateway_ends_sessions_with_1001(backend: Any, caplog: Any) -> None:
    seen, mseen = Seen(), Seen()
    direct = ws_endpoint(await backend(echo_app(seen)), enable_direct_communication=True, max_retries=2)
    shared = ws_endpoint(await backend(multiplex_app(mseen)), path="/mx", url_pattern="/hub")
    gw = await build_gateway(build_service(make_config([direct, shared])))
    server = await gateway_server(gw.edge)
    caplog.set_level(logging.WARNING)
    try:
        async with aiohttp.ClientSession() as session:
            d = await session.ws_connect(server.make_url("/ws"))
            x = await session.ws_connect(server.make_url("/mx"))
            for ws in (d, x):
                await ws.send_str("a")
                assert (await ws.receive(timeout=5)).data == "a"
            await gw.close()
            for ws in (d, x):
                msg = await ws.receive(timeout=5)
                assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
    finally:
        await server.close()
        await gw.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "reconnecting" in r.getMessage()]  # never redialled
