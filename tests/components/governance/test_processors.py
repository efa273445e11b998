"""governance/processors (KrakenD Enterprise): pools and units checked at their JSON paths, a
processor no quota attaches warned about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from krakenpy.quota.options import parse_processors
from tests.cli_gateway import check_config
from tests.components.governance.test_quota import processors_extra, quota_doc, weighted
from tests.conftest import make_config


def test_processors_need_a_declared_pool_and_known_units(tmp_path: Path) -> None:
    """Through the real CLI: each problem at its JSON path, exit 1, no traceback."""
    doc = quota_doc("http://127.0.0.1:9000", "127.0.0.1:6379", weighted())
    doc["extra_config"]["redis"]["connection_pools"][0]["name"] = "other"
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out
    assert "extra_config.governance/processors.quotas[0].connection_name: no pool named 'default'" in out
    assert "governance/quota.quota_name" not in out  # the attachment does not repeat its processor's error
    doc = quota_doc("http://127.0.0.1:9000", "127.0.0.1:6379", weighted())
    doc["extra_config"]["governance/processors"]["quotas"][0]["rules"][0]["limits"][0]["unit"] = "fortnight"
    config.write_text(json.dumps(doc))
    done = check_config(config)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "extra_config.governance/processors.quotas[0].rules[0].limits[0].unit" in done.stdout + done.stderr


async def test_processors_attached_nowhere_is_a_warning() -> None:
    doc = make_config([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9000"]}]}])
    doc["extra_config"] = processors_extra("127.0.0.1:9")
    gw = await build_gateway(build_service(doc))
    try:
        assert any("quota 'llm_tokens' is attached nowhere" in w for w in gw.warnings)
    finally:
        await gw.close()


def test_processors_a_rule_with_two_limits_of_one_unit_is_an_error() -> None:
    """One counter per unit and caller: two day limits would add each weight to it twice."""
    extra = processors_extra("127.0.0.1:6379")
    extra["governance/processors"]["quotas"][0]["rules"][0]["limits"] = [
        {"amount": 10, "unit": "day"},
        {"amount": 4, "unit": "hour"},
        {"amount": 4, "unit": "day"},
    ]
    with pytest.raises(ConfigError) as info:
        parse_processors(extra["governance/processors"], "extra_config.governance/processors", extra)
    [issue] = info.value.issues
    assert issue.path == "extra_config.governance/processors.quotas[0].rules[0].limits[2].unit"
    assert "day" in issue.message
