"""Errors → HTTP (KrakenD's section 2.8 rules), line mapping, post-on-failure and ``exit``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lua.helpers import config, echo_app, lua_endpoint

BAD_CODE = """local function fact(n)
  return n
end
local really = fact
return really.really_bad.x
"""


@pytest.mark.parametrize("level", ["backend_lua", "proxy_lua"])
async def test_custom_error_status_and_content_type(backend, gateway, level) -> None:
    host = await backend(echo_app())
    lua = {"pre": "custom_error('{\"msg\":\"expect me\"}', 418, 'application/json')"}
    client = await gateway(config(lua_endpoint(host, **{level: lua}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 418
    assert resp.headers["Content-Type"].startswith("application/json")
    assert await resp.json() == {"msg": "expect me"}
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_custom_error_body_hidden_without_return_error_msg(backend, gateway) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, backend_lua={"post": "custom_error('secret', 404)"})))
    resp = await client.get("/test")
    assert resp.status == 404
    assert await resp.read() == b""


async def test_custom_error_single_argument_is_500(backend, gateway) -> None:
    host = await backend(echo_app())
    client = await gateway(
        config(lua_endpoint(host, proxy_lua={"pre": "custom_error('expect me')"}), return_error_msg=True)
    )
    resp = await client.get("/test")
    assert resp.status == 500
    assert await resp.text() == "expect me"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("local req = request.load()\nmethod_does_not_exist()\nlocal t = 1", "(pre-script:L2)"),
        ("custom_error()", "need arguments (pre-script:L1)"),
        ("local r = request.load(); r:headerList('X-Test', 'string')", "must be a luaList (pre-script:L1)"),
    ],
)
async def test_runtime_error_message_maps_to_line(backend, gateway, code, message) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": code}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert (await resp.text()).endswith(message)


async def test_error_in_source_file_maps_to_file_and_line(backend, gateway, tmp_path: Path) -> None:
    (tmp_path / "bad-code.lua").write_text(BAD_CODE)
    host = await backend(echo_app())
    lua = {"sources": ["bad-code.lua"], "post": "custom_error('wont reach here')"}
    client = await gateway(config(lua_endpoint(host, backend_lua=lua), return_error_msg=True), base_dir=tmp_path)
    resp = await client.get("/test")
    assert resp.status == 500
    text = await resp.text()
    assert text.endswith("(bad-code.lua:L5)"), text
    assert "index a function value" in text


async def test_multi_backend_lua_failure_gives_partial_response(backend, gateway) -> None:
    host = await backend(echo_app())
    endpoint = {
        "endpoint": "/multi",
        "backend": [
            {"host": [host], "url_pattern": "/items", "group": "good"},
            {
                "host": [host],
                "url_pattern": "/items",
                "group": "bad",
                "extra_config": {"modifier/lua-backend": {"pre": "custom_error('boom', 418)"}},
            },
        ],
    }
    client = await gateway(config(endpoint))
    resp = await client.get("/multi")
    assert resp.status == 200
    assert resp.headers["X-Krakend-Completed"] == "false"
    assert set(await resp.json()) == {"good"}


async def test_endpoint_level_custom_error_status(backend, gateway) -> None:
    host = await backend(echo_app())
    lua = {"pre": "custom_error('denied', 403, 'application/problem+json')"}
    client = await gateway(config(lua_endpoint(host, router_lua=lua)))
    resp = await client.get("/test")
    assert resp.status == 403
    assert resp.headers["Content-Type"] == "application/problem+json"


async def test_service_level_custom_error_is_always_500(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(lua_endpoint(host))
    doc["extra_config"] = {"modifier/lua-endpoint": {"pre": "custom_error('denied', 403)"}}
    client = await gateway(doc)
    assert (await client.get("/test")).status == 500


async def test_service_level_pre_runs_for_every_endpoint(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(
        lua_endpoint(host, input_headers=["X-Global"]),
        lua_endpoint(host, endpoint="/other", input_headers=["X-Global"]),
    )
    doc["extra_config"] = {"modifier/lua-endpoint": {"pre": "ctx.load():headers('X-Global', 'yes')"}}
    client = await gateway(doc)
    for path in ("/test", "/other"):
        assert (await (await client.get(path)).json())["headers"]["X-Global"] == "yes"


async def test_exit_short_circuits_with_body_and_headers(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local c = ctx.load()
if c:headers('Authorization') == '' then
  ctx.exit(401, {message = 'login first'}, {['WWW-Authenticate'] = 'Bearer'})
end"""
    client = await gateway(config(lua_endpoint(host, router_lua={"pre": pre})))
    resp = await client.get("/test")
    assert resp.status == 401
    assert await resp.json() == {"message": "login first"}
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    ok = await client.get("/test", headers={"Authorization": "Bearer x"})
    assert ok.status == 200


async def test_exit_with_string_body_at_backend_level(backend, gateway) -> None:
    host = await backend(echo_app())
    lua = {"pre": "exit(409, 'conflict!', {['Content-Type'] = 'text/x-custom'})"}
    client = await gateway(config(lua_endpoint(host, backend_lua=lua)))
    resp = await client.get("/test")
    assert resp.status == 409
    assert await resp.read() == b"conflict!"
    assert resp.headers["Content-Type"].startswith("text/x-custom")


async def test_post_sees_failure_and_can_answer_for_it(backend, gateway) -> None:
    host = await backend(echo_app())
    post = """
local r = response.load()
local msg, status = r:error()
if msg then
  r:data():set("fallback", true)
  r:data():set("upstream_status", status)
  r:statusCode(200)
end
"""
    client = await gateway(config(lua_endpoint(host, url="/fail", backend_lua={"post": post})))
    resp = await client.get("/test")
    assert resp.status == 200
    assert await resp.json() == {"fallback": True, "upstream_status": 404}


async def test_post_not_handling_failure_keeps_krakend_behaviour(backend, gateway) -> None:
    host = await backend(echo_app())
    # a KrakenD script that assumes success crashes on the empty data: the original error stands
    post = "local d = response.load():data(); d:set('n', d:get('items'):len())"
    endpoint = lua_endpoint(host, url="/fail", backend_lua={"post": post})
    endpoint["backend"][0]["extra_config"]["backend/http"] = {"return_error_code": True}
    client = await gateway(config(endpoint))
    resp = await client.get("/test")
    assert resp.status == 404


async def test_post_error_returns_nil_on_success(backend, gateway) -> None:
    host = await backend(echo_app())
    post = "response.load():data():set('err', tostring(response.load():error()))"
    client = await gateway(config(lua_endpoint(host, url="/items", proxy_lua={"post": post})))
    assert (await (await client.get("/test")).json())["err"] == "nil"


async def test_exit_with_a_body_that_is_not_utf8(backend, gateway, caplog) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": "exit(200, '\\255ok')"})))
    resp = await client.get("/test")
    assert (resp.status, await resp.read()) == (200, "\ufffdok".encode())
    assert not [r for r in caplog.records if r.exc_info]
