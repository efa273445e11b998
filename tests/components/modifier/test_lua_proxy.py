"""``modifier/lua-proxy``: pre/post around the endpoint's merge."""

from __future__ import annotations

from krakenpy.components.modifier.lua_proxy import COMPONENT
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_lua_proxy_parse_and_levels() -> None:
    options = COMPONENT.parse({"pre": "x = 1", "post": "y = 2"}, site("modifier/lua-proxy"))
    assert options.pre == "x = 1" and options.post == "y = 2"
    assert COMPONENT.levels == {"endpoint"} and COMPONENT.layers == ("proxy",)


async def test_lua_proxy_post_sees_the_merged_data(backend, gateway) -> None:
    one = await backend(json_app({"a": 1}))
    two = await backend(json_app({"b": 2}))
    post = "local d = response.load():data(); d:set('keys', d:len())"
    doc = make_config(
        [
            {
                "endpoint": "/m",
                "extra_config": {"modifier/lua-proxy": {"post": post}},
                "backend": [{"host": [one], "url_pattern": "/"}, {"host": [two], "url_pattern": "/"}],
            }
        ]
    )
    client = await gateway(doc)
    assert await (await client.get("/m")).json() == {"a": 1, "b": 2, "keys": 2}
