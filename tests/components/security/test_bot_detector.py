"""``security/bot-detector`` through the gateway: the service value at the edge (404/405 too, not
``GET /__health``, after CORS preflights), endpoint values on their endpoint only."""

from __future__ import annotations

import logging

import pytest

from krakenpy.botdetect import BotOptions
from krakenpy.components.security.bot_detector import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.components.helpers import json_app, site
from tests.conftest import make_config

BOT = {"User-Agent": "Scrapy/2.11"}
HUMAN = {"User-Agent": "Mozilla/5.0"}


def test_bot_detector_parse_at_json_path() -> None:
    assert COMPONENT.parse({}, site("security/bot-detector", "endpoint")) == BotOptions()
    with pytest.raises(ConfigError) as caught:
        COMPONENT.parse({"patterns": ["ok", "(?!lookahead)"]}, site("security/bot-detector", "endpoint"))
    assert [i.path for i in caught.value.issues] == ["endpoints[0].extra_config.security/bot-detector.patterns[1]"]


def test_bot_detector_component_layers() -> None:
    assert COMPONENT.levels == {"service", "endpoint"} and COMPONENT.layers == ("edge", "endpoint")


def _doc(host: str, service: dict | None = None, endpoint: dict | None = None, **extra) -> dict:
    endpoints = [
        {"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/"}]},
        {
            "endpoint": "/b",
            "backend": [{"host": [host], "url_pattern": "/"}],
            **({"extra_config": {"security/bot-detector": endpoint}} if endpoint else {}),
        },
    ]
    service_extra = {**extra, **({"security/bot-detector": service} if service else {})}
    return make_config(endpoints, extra_config=service_extra)


async def test_bot_detector_gateway_service_value_everywhere_but_health(backend, gateway, caplog) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), service={"patterns": ["(?i)scrapy"]}))
    assert (await client.get("/a", headers=HUMAN)).status == 200
    with caplog.at_level(logging.WARNING, logger="krakenpy.botdetector"):
        for method, path in (("GET", "/a"), ("GET", "/nope"), ("DELETE", "/a")):
            resp = await client.request(method, path, headers=BOT)
            assert (resp.status, await resp.read()) == (403, b"")
            assert "X-Krakend" not in resp.headers
    assert len(caplog.records) == 1  # three rejections, one line per second
    assert (await client.get("/__health", headers=BOT)).status == 200


async def test_bot_detector_gateway_endpoint_value_only_there(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), endpoint={"empty_user_agent_is_bot": True}))
    assert (await client.get("/a", skip_auto_headers=["User-Agent"])).status == 200
    blocked = await client.get("/b", skip_auto_headers=["User-Agent"])
    assert (blocked.status, await blocked.read()) == (403, b"")
    assert "X-Krakend" not in blocked.headers
    assert (await client.get("/b", headers=HUMAN)).status == 200


async def test_bot_detector_gateway_both_levels_apply(backend, gateway) -> None:
    doc = _doc(await backend(json_app({"a": 1})), service={"deny": ["A/1"]}, endpoint={"deny": ["B/1"]})
    client = await gateway(doc)
    assert (await client.get("/a", headers={"User-Agent": "B/1"})).status == 200
    assert (await client.get("/b", headers={"User-Agent": "A/1"})).status == 403
    assert (await client.get("/b", headers={"User-Agent": "B/1"})).status == 403


async def test_bot_detector_gateway_cors_preflight_answered_first(backend, gateway) -> None:
    doc = _doc(
        await backend(json_app({"a": 1})),
        service={"patterns": ["(?i)scrapy"]},
        **{"security/cors": {"allow_origins": ["*"]}},
    )
    client = await gateway(doc)
    preflight = {**BOT, "Origin": "https://x", "Access-Control-Request-Method": "GET"}
    assert (await client.options("/a", headers=preflight)).status == 204
    rejected = await client.get("/a", headers={**BOT, "Origin": "https://x"})
    assert (rejected.status, rejected.headers["Access-Control-Allow-Origin"]) == (403, "*")


async def test_bot_detector_gateway_warns_about_a_match_all_pattern(backend) -> None:
    doc = _doc(await backend(json_app({})), endpoint={"patterns": ["^$", ".*"]})
    gw = await build_gateway(build_service(doc))
    try:
        [warning] = gw.resources.warnings
        assert warning.startswith("endpoints[1].extra_config.security/bot-detector.patterns[1]: matches every")
    finally:
        await gw.close()


async def test_bot_detector_gateway_covers_router_redirects(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({})), service={"patterns": ["(?i)scrapy"]}))
    assert (await client.get("/a/", headers=HUMAN, allow_redirects=False)).status == 301
    assert (await client.get("/a/", headers=BOT, allow_redirects=False)).status == 403
