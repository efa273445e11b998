"""governance/quota weights and callers against a real Redis: a header weight on a decoded endpoint,
a body weight on a no-op one, weights too large for Redis, callers whose key is not UTF-8, a known
tier without its caller key, and the audit reason of an unavailable store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.components.governance.test_quota import TIERS, quota_doc, weighted
from tests.components.helpers import json_app
from tests.redis_server import RedisServer
from tests.server.wirekit import gateway_server

MOD = {"X-Role": "moderator", "X-User-Id": "ann"}  # poweruser: 10 a day


def _header_app(value: str | None, body: bytes = b'{"text": "hi"}') -> web.Application:
    """A backend reporting its usage in an ``X-Usage`` header (none when ``value`` is None)."""

    async def handle(request: web.Request) -> web.Response:
        headers = {"X-Usage": value} if value is not None else {}
        return web.Response(body=body, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _header_weighted() -> dict[str, Any]:
    return {**weighted(), "weight_key": "x-usage", "weight_strategy": "header"}


async def _remaining(client: TestClient[Any, Any], headers: dict[str, str] = MOD) -> tuple[int, str | None]:
    resp = await client.post("/llm", headers=headers)
    return resp.status, resp.headers.get("X-Quota-Remaining")


async def test_quota_header_weight_counts_on_a_decoded_endpoint(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    """A JSON endpoint drops the backends' headers; the quota still reads the named one, per backend."""
    one, two = await backend(_header_app("4")), await backend(_header_app("2.5"))
    doc = quota_doc(one, redis_server.address, _header_weighted())
    client = await gateway(doc)
    resp = await client.post("/llm", headers=MOD)
    assert resp.status == 200 and await resp.json() == {"text": "hi"} and "X-Usage" not in resp.headers
    assert resp.headers["X-Quota-Remaining"] == "6"
    # two backends (groups): both answers count (4 + ceil 2.5)
    doc["endpoints"][0]["backend"] = [
        {"host": [one], "url_pattern": "/", "group": "a"},
        {"host": [two], "url_pattern": "/", "group": "b"},
    ]
    client = await gateway(doc)
    assert await _remaining(client, {**MOD, "X-User-Id": "bob"}) == (200, "3")
    # no header: no weight
    silent = await gateway(quota_doc(await backend(_header_app(None)), redis_server.address, _header_weighted()))
    assert await _remaining(silent, {**MOD, "X-User-Id": "carl"}) == (200, "10")


async def test_quota_body_weight_counts_on_a_noop_endpoint(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    quota = {**weighted(), "weight_key": "usage.total"}
    for body, user, left in (
        (b'{"usage": {"total": 4}}', "ann", "6"),
        (b'{"usage.total": 3}', "bob", "7"),  # a literal dotted name
        (b"not json {", "carl", "10"),  # no weight
    ):
        host = await backend(_header_app(None, body))
        doc = quota_doc(host, redis_server.address, quota)
        doc["endpoints"][0]["output_encoding"] = "no-op"
        doc["endpoints"][0]["backend"][0]["encoding"] = "no-op"
        client = await gateway(doc)
        resp = await client.post("/llm", headers={**MOD, "X-User-Id": user})
        assert resp.status == 200 and await resp.read() == body
        assert resp.headers["X-Quota-Remaining"] == left, (body, resp.headers["X-Quota-Remaining"])


@pytest.mark.parametrize("usage", [1e20, 10**30, "1e17", 2**63])
async def test_quota_huge_weight_exhausts_its_caller_only(
    backend: Any, gateway: Any, redis_server: RedisServer, usage: Any
) -> None:
    """A weight past Redis's 64-bit counters is capped (at the largest limit): the caller's quota is
    used up, Redis is not declared down for the others."""
    client = await gateway(quota_doc(await backend(json_app({"usage": usage})), redis_server.address, weighted()))
    assert await _remaining(client) == (200, "0")
    assert (await client.post("/llm", headers=MOD)).status == 429
    assert await _remaining(client, {**MOD, "X-User-Id": "alice"}) == (200, "0")


async def test_quota_caller_key_not_utf8_is_counted_without_a_traceback(
    backend: Any, gateway: Any, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    quota = {"quota_name": "llm_tokens", "tier_key": "X-Role", "tiers": TIERS}
    client = await gateway(quota_doc(await backend(json_app({"ok": 1})), redis_server.address, quota))
    heads = []
    for _ in range(4):  # the basic tier: 3 a day
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(
            b"POST /llm HTTP/1.1\r\nHost: x\r\nX-Role: reader\r\nX-User-Id: caf\xe9\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        heads.append((await reader.read(65536)).split(b"\r\n", 1)[0])
        writer.close()
        await writer.wait_closed()
    assert heads == [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 429 Too Many Requests"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_quota_known_tier_without_caller_key_is_refused_even_when_unmatched_tiers_pass(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    """on_unmatched_tier_allow lets through a request no tier matches, never one of a known tier
    that omits its caller key (it would never be counted)."""
    quota = {"quota_name": "llm_tokens", "tier_key": "X-Role", "tiers": TIERS[:1], "on_unmatched_tier_allow": True}
    client = await gateway(quota_doc(await backend(json_app({"usage": 1})), redis_server.address, quota))
    assert (await client.post("/llm", headers={"X-Role": "moderator"})).status == 400
    assert (await client.post("/llm", headers={"X-Role": "reader"})).status == 200  # no tier: through


async def test_quota_store_unavailable_is_audited_as_a_policy_error(
    backend: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    audit_file = tmp_path / "audit.log"
    doc = quota_doc(await backend(json_app({"usage": 1})), redis_server.address, weighted())
    doc["extra_config"]["telemetry/audit"] = {"sink": "file", "path": str(audit_file), "sensitive": True}
    gw = await build_gateway(build_service(doc))
    await gw.start()
    client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
    await client.start_server()
    try:
        redis_server.kill()
        assert (await client.post("/llm", headers=MOD)).status == 503
    finally:
        await client.close()
        await gw.close()
    [record] = map(orjson.loads, audit_file.read_bytes().splitlines())
    assert (record["decision"], record["reason"], record["response"]["status"]) == ("error", "policy_error", 503)
