"""``proxy``: endpoint options (sequential, static, flatmap) and backend options (shadow, flatmap)."""

from __future__ import annotations

import pytest

from krakenpy.components.proxy import COMPONENT
from krakenpy.config.options import BackendProxyOptions, EndpointProxyOptions
from krakenpy.errors import ConfigError
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_proxy_parse_depends_on_the_level() -> None:
    endpoint = COMPONENT.parse({"sequential": True, "static": {"data": {"s": 1}}}, site("proxy"))
    assert isinstance(endpoint, EndpointProxyOptions)
    assert endpoint.sequential and endpoint.static is not None and endpoint.static.strategy == "always"
    backend = COMPONENT.parse({"shadow": True, "shadow_timeout": "250ms"}, site("proxy", "backend"))
    assert backend == BackendProxyOptions(shadow=True, shadow_timeout=0.25)


def test_proxy_bad_flatmap_is_an_error_at_its_path() -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"flatmap_filter": [{"type": "rename", "args": ["a", "b"]}]}, site("proxy"))
    assert info.value.issues[0].path == "endpoints[0].extra_config.proxy.flatmap_filter[0]"  # the operation at fault


async def test_proxy_static_and_backend_flatmap_through_the_gateway(backend, gateway) -> None:
    host = await backend(json_app({"a": 1, "b": 2}))
    flatmap = {"proxy": {"flatmap_filter": [{"type": "del", "args": ["b"]}]}}
    doc = make_config(
        [
            {
                "endpoint": "/a",
                "extra_config": {"proxy": {"static": {"data": {"s": "x"}, "strategy": "always"}}},
                "backend": [{"host": [host], "url_pattern": "/", "extra_config": flatmap}],
            }
        ]
    )
    client = await gateway(doc)
    assert await (await client.get("/a")).json() == {"a": 1, "s": "x"}
