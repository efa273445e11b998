"""The endpoint's guards run before the upgrade, as in KrakenD: a rejected request gets the guard's
answer and never reaches the backend."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import make_config
from tests.websocket.kit import Seen, echo_app, multiplex_app, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def _refused(client: Any, path: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(path, headers=headers or {})
    return caught.value.status


async def test_guard_api_key_rejects_before_the_upgrade(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True)
    endpoint["extra_config"]["auth/api-keys"] = {"roles": ["user"], "identifier": "X-Key"}
    doc = make_config([endpoint], extra_config={"auth/api-keys": {"keys": [{"key": "k-1", "roles": ["user"]}]}})
    client = await gateway(doc)
    assert await _refused(client, "/ws") == 401
    assert await _refused(client, "/ws", {"X-Key": "wrong"}) == 401
    assert seen.handshakes == []
    async with client.ws_connect("/ws", headers={"X-Key": "k-1"}) as ws:
        await ws.send_str("in")
        assert (await ws.receive(timeout=5)).data == "in"


async def test_guard_rate_limit_rejects_before_the_upgrade(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    endpoint = ws_endpoint(host)
    endpoint["extra_config"]["qos/ratelimit/router"] = {"max_rate": 1, "capacity": 1, "every": "1m"}
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("first")
        assert (await ws.receive(timeout=5)).data == "first"
        assert await _refused(client, "/ws") == 503  # KrakenD's endpoint limit answers 503


async def test_guard_bot_detector_rejects_before_the_upgrade(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True)
    endpoint["extra_config"]["security/bot-detector"] = {"deny": ["evilbot/1.0"]}
    client = await gateway(make_config([endpoint]))
    assert await _refused(client, "/ws", {"User-Agent": "evilbot/1.0"}) == 403
    assert seen.handshakes == []


async def test_guard_cors_headers_on_the_101(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True)
    doc = make_config([endpoint], extra_config={"security/cors": {"allow_origins": ["https://app.example"]}})
    client = await gateway(doc)
    async with client.ws_connect("/ws", headers={"Origin": "https://app.example"}) as ws:
        await ws.send_str("c")
        assert (await ws.receive(timeout=5)).data == "c"
        assert ws._response.headers.get("Access-Control-Allow-Origin") == "https://app.example"


async def test_guard_propagated_header_cannot_be_forged(backend: Any, gateway: Any) -> None:
    # the backend's handshake carries the header the guard set, never the client's own value of it
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True, input_headers=["X-Role", "X-Key"])
    endpoint["extra_config"]["auth/api-keys"] = {"roles": ["user"], "identifier": "X-Key"}
    keys = {"keys": [{"key": "k-1", "roles": ["user"]}], "propagate_role": "X-Role"}
    client = await gateway(make_config([endpoint], extra_config={"auth/api-keys": keys}))
    async with client.ws_connect("/ws", headers={"X-Key": "k-1", "X-Role": "admin"}) as ws:
        await ws.send_str("in")
        assert (await ws.receive(timeout=5)).data == "in"
    received = seen.handshakes[0][1]
    assert received["X-Role"] == "user"


async def test_guard_cors_refuses_an_origin_it_does_not_allow(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True)
    doc = make_config([endpoint], extra_config={"security/cors": {"allow_origins": ["https://app.example"]}})
    client = await gateway(doc)
    assert await _refused(client, "/ws", {"Origin": "https://evil.example"}) == 403
    assert seen.handshakes == []
    async with client.ws_connect("/ws") as ws:  # no Origin: not a browser, nothing to check
        await ws.send_str("n")
        assert (await ws.receive(timeout=5)).data == "n"


async def test_guard_without_cors_any_origin_upgrades(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    async with client.ws_connect("/ws", headers={"Origin": "https://elsewhere.example"}) as ws:
        await ws.send_str("o")
        assert (await ws.receive(timeout=5)).data == "o"
