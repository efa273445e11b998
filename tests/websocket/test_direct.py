"""Direct communication through the real gateway (krakenpy's own server): echo both ways, limits,
closes, reconnection, headers and query on the backend's handshake."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.conftest import make_config
from tests.websocket.kit import Seen, echo_app, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def _direct(gateway: Any, backend: Any, seen: Seen, **options: Any) -> Any:
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, **{"enable_direct_communication": True, **options})
    return await gateway(make_config([endpoint]))


async def test_direct_echo_text_and_binary(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "hello"
        await ws.send_bytes(b"\x00\xffbin")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.BINARY and msg.data == b"\x00\xffbin"
    assert seen.messages[:2] == ["hello", b"\x00\xffbin"]
