"""``backend/lambda``: parsed at the backend's JSON path, built as the backend's executor."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.components.backend.lambda_ import COMPONENT
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.components.helpers import site
from tests.conftest import make_config


def test_lambda_parse_errors_name_the_field() -> None:
    where = site("backend/lambda", "backend")
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"function_name": "f", "function_param_name": "g"}, where)
    assert info.value.issues[0].path == "endpoints[0].backend[0].extra_config.backend/lambda.function_name"
    assert COMPONENT.parse({"function_name": "f"}, where).payload == "params"  # GET → params, as KrakenD


def test_lambda_component_is_an_executor() -> None:
    assert COMPONENT.layers == ("executor",) and COMPONENT.strict


async def test_lambda_without_region_warns_and_answers_502(gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    lam: dict[str, Any] = {"backend/lambda": {"function_name": "hello"}}
    doc = make_config([{"endpoint": "/l", "backend": [{"url_pattern": "/x", "extra_config": lam}]}])
    from krakenpy.config.build import build_service

    gw = await build_gateway(build_service(doc))
    try:
        assert any("region" in w for w in gw.resources.warnings)
    finally:
        await gw.close()
    client = await gateway(doc)
    assert (await client.get("/l")).status == 502
