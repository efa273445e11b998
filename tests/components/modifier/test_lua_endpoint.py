"""``modifier/lua-endpoint``: service- and endpoint-level router scripts, outermost first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from krakenpy.components.modifier.lua_endpoint import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.cli_gateway import check_config
from tests.components.helpers import json_app
from tests.conftest import make_config


def _endpoint(host: str, lua: dict[str, str] | None) -> dict[str, object]:
    endpoint: dict[str, object] = {
        "endpoint": "/a",
        "input_headers": ["X-Order"],
        "backend": [{"host": [host], "url_pattern": "/"}],
    }
    if lua is not None:
        endpoint["extra_config"] = {"modifier/lua-endpoint": lua}
    return endpoint


async def test_lua_endpoint_service_level_runs_before_endpoint_level(backend, gateway) -> None:
    seen: list = []
    host = await backend(json_app({"ok": True}, seen=seen))
    service_pre = "local c = ctx.load(); c:headers('X-Order', 'service')"
    endpoint_pre = "local c = ctx.load(); c:headers('X-Order', c:headers('X-Order') .. ',endpoint')"
    doc = make_config(
        [_endpoint(host, {"pre": endpoint_pre})], extra_config={"modifier/lua-endpoint": {"pre": service_pre}}
    )
    client = await gateway(doc)
    assert (await client.get("/a")).status == 200
    assert seen[0].headers["X-Order"] == "service,endpoint"


async def test_lua_endpoint_syntax_error_is_reported_at_its_path() -> None:
    doc = make_config([_endpoint("http://127.0.0.1:10", {"pre": "local = 1"})])
    with pytest.raises(ConfigError) as info:
        await build_gateway(build_service(doc))
    assert info.value.issues[0].path == "endpoints[0].extra_config.modifier/lua-endpoint.pre"


def test_lua_endpoint_levels() -> None:
    assert COMPONENT.levels == {"service", "endpoint"} and COMPONENT.layers == ("endpoint",)


@pytest.mark.parametrize("level", ["service", "endpoint"])
def test_a_post_script_is_said_to_have_no_effect(tmp_path: Path, level: str) -> None:
    """A router-level script runs only its ``pre`` (as KrakenD's): a ``post`` there was accepted and
    never run without a word, where every field without effect gets a warning at its path."""
    script = {"post": "error('never run')"}
    endpoint = _endpoint("http://127.0.0.1:8000", script if level == "endpoint" else None)
    doc = make_config([endpoint], extra_config={"modifier/lua-endpoint": script} if level == "service" else {})
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    where = "extra_config" if level == "service" else "endpoints[0].extra_config"
    assert (
        f"WARNING: {where}.modifier/lua-endpoint.post: accepted; no effect, as in KrakenD "
        "(a router-level script runs only its pre)"
    ) in out.stderr, out.stderr


def test_a_post_script_with_no_effect_is_not_compiled(tmp_path: Path) -> None:
    """The ``post`` said to have no effect is not compiled: its syntax error refused a file the
    warning calls accepted, which KrakenD runs (it never loads a router-level post). Its type is
    still the schema's (a string)."""
    script = {"pre": "local x = 1", "post": "this is not Lua ((("}
    doc = make_config([_endpoint("http://127.0.0.1:8000", script)])
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    assert "endpoints[0].extra_config.modifier/lua-endpoint.post: accepted; no effect" in out.stderr, out.stderr
