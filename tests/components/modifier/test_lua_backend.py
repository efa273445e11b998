"""``modifier/lua-backend``: pre/post around one backend, inside the request builder."""

from __future__ import annotations

from krakenpy.components.modifier.lua_backend import COMPONENT
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_lua_backend_parse_and_levels() -> None:
    options = COMPONENT.parse({"pre": "x = 1", "skip_next": True}, site("modifier/lua-backend", "backend"))
    assert options.skip_next
    assert COMPONENT.levels == {"backend"} and COMPONENT.layers == ("backend",)


async def test_lua_backend_pre_sees_the_built_url(backend, gateway) -> None:
    seen: list = []
    host = await backend(json_app({"a": 1}, seen=seen))
    pre = "local r = request.load(); r:headers('X-Url', r:url())"
    doc = make_config(
        [
            {
                "endpoint": "/b/{id}",
                "backend": [
                    {"host": [host], "url_pattern": "/x/{id}", "extra_config": {"modifier/lua-backend": {"pre": pre}}}
                ],
            }
        ]
    )
    client = await gateway(doc)
    assert (await client.get("/b/7")).status == 200
    assert seen[0].headers["X-Url"] == f"{host}/x/7"
