"""``router``: parsed into RouterOptions by the model; the router honours it."""

from __future__ import annotations

from krakenpy.components.router import COMPONENT
from krakenpy.config.options import RouterOptions
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_router_parse_defaults_and_fields() -> None:
    assert COMPONENT.parse(None, site("router", "service")) == RouterOptions()
    parsed = COMPONENT.parse(
        {"health_path": "/healthz", "error_body": {"404": {"e": "nf"}}, "trusted_proxies": ["10.0.0.0/8"]},
        site("router", "service"),
    )
    assert parsed.health_path == "/healthz"
    assert parsed.error_body_404 == {"e": "nf"} and parsed.error_body_405 is None
    assert parsed.trusted_proxies == ("10.0.0.0/8",)
    assert parsed.forwarded_by_client_ip is True


def test_router_component_is_core_and_service_level() -> None:
    assert COMPONENT.core and COMPONENT.levels == {"service"} and COMPONENT.layers == ()


async def test_router_options_reach_the_router(backend, gateway) -> None:
    host = await backend(json_app({"a": 1}))
    doc = make_config(
        [{"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/"}]}],
        extra_config={"router": {"health_path": "/healthz", "error_body": {"404": {"e": "nf"}}}},
    )
    client = await gateway(doc)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/__health")).status == 404
    missing = await client.get("/nope")
    assert missing.status == 404 and await missing.json() == {"e": "nf"}
