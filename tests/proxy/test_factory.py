from __future__ import annotations

from typing import Any

import pytest

from krakenpy.config.model import BackendConfig
from krakenpy.errors import ConfigError
from krakenpy.proxy.factory import build_endpoint_proxy
from krakenpy.proxy.types import Proxy
from tests.doubles import make_request, static_proxy
from tests.proxy.helpers import endpoint_config


def _factory(answers: dict[str, Any]):
    doubles: dict[str, static_proxy] = {}

    async def factory(backend: BackendConfig, resources: Any) -> Proxy:
        double = static_proxy(answers[backend.url_pattern]["data"], delay=answers[backend.url_pattern].get("delay", 0))
        doubles[backend.url_pattern] = double
        return double

    return factory, doubles


async def test_factory_merge_budget_is_85_percent_of_endpoint_timeout() -> None:
    ep = endpoint_config(
        {"endpoint": "/e", "timeout": "1s", "backend": [{"url_pattern": "/fast"}, {"url_pattern": "/slow"}]}
    )
    factory, _ = _factory({"/fast": {"data": {"a": 1}}, "/slow": {"data": {"b": 1}, "delay": 0.93}})
    response = await (await build_endpoint_proxy(ep, None, factory))(make_request())  # type: ignore[arg-type]
    assert response.data == {"a": 1}
    assert not response.is_complete


async def test_factory_shadow_backend_not_merged_and_flatmap_ignored_with_one_backend() -> None:
    ep = endpoint_config(
        {
            "endpoint": "/e",
            "backend": [
                {"url_pattern": "/main"},
                {"url_pattern": "/shadow", "extra_config": {"proxy": {"shadow": True}}},
            ],
            "extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]}},
        }
    )
    factory, doubles = _factory({"/main": {"data": {"a": 1}}, "/shadow": {"data": {"s": 1}}})
    response = await (await build_endpoint_proxy(ep, None, factory))(make_request())  # type: ignore[arg-type]
    # two declared backends, so the endpoint flatmap applies; the shadow answer is never merged
    assert response.data == {}
    assert "/shadow" in doubles


async def test_factory_bad_component_config_is_config_error() -> None:
    ep = endpoint_config(
        {"endpoint": "/e", "backend": [{"url_pattern": "/a"}], "extra_config": {"proxy": {"static": {"strategy": "x"}}}}
    )
    factory, _ = _factory({"/a": {"data": {}}})
    with pytest.raises(ConfigError, match="strategy"):
        await build_endpoint_proxy(ep, None, factory)  # type: ignore[arg-type]
