from __future__ import annotations

from typing import Any

import pytest

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import ConfigError
from krakenpy.proxy.factory import build_endpoint_proxy
from krakenpy.proxy.types import Proxy
from tests.doubles import make_request, static_proxy
from tests.proxy.helpers import endpoint_config


def _backends(ep: EndpointConfig, answers: dict[str, Any]) -> tuple[list[Proxy], dict[str, Proxy]]:
    doubles: dict[str, Proxy] = {}
    for backend in ep.backends:
        answer = answers[backend.url_pattern]
        doubles[backend.url_pattern] = static_proxy(answer["data"], delay=answer.get("delay", 0))
    return list(doubles.values()), doubles


async def test_factory_merge_budget_is_85_percent_of_endpoint_timeout() -> None:
    ep = endpoint_config(
        {"endpoint": "/e", "timeout": "1s", "backend": [{"url_pattern": "/fast"}, {"url_pattern": "/slow"}]}
    )
    backends, _ = _backends(ep, {"/fast": {"data": {"a": 1}}, "/slow": {"data": {"b": 1}, "delay": 0.93}})
    response = await build_endpoint_proxy(ep, backends)(make_request())
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
    backends, doubles = _backends(ep, {"/main": {"data": {"a": 1}}, "/shadow": {"data": {"s": 1}}})
    response = await build_endpoint_proxy(ep, backends)(make_request())
    # two declared backends, so the endpoint flatmap applies; the shadow answer is never merged
    assert response.data == {}
    assert "/shadow" in doubles


async def test_factory_bad_core_namespace_is_config_error_at_its_path() -> None:
    with pytest.raises(ConfigError, match=r"endpoints\[0\]\.extra_config\.proxy\.static\.strategy"):
        endpoint_config(
            {
                "endpoint": "/e",
                "backend": [{"url_pattern": "/a"}],
                "extra_config": {"proxy": {"static": {"strategy": "x"}}},
            }
        )


async def test_factory_only_shadow_backends_is_config_error() -> None:
    ep = endpoint_config(
        {"endpoint": "/e", "backend": [{"url_pattern": "/a", "extra_config": {"proxy": {"shadow": True}}}]}
    )
    backends, _ = _backends(ep, {"/a": {"data": {}}})
    with pytest.raises(ConfigError, match="shadow"):
        build_endpoint_proxy(ep, backends)
