"""A Lua response modifier printing what the backend answered (``print(r:data():get('token'))``, the
body of a ``no-op`` backend): the line carried the token, since only the request's own credentials
(and, once read, its body's masked fields) were masked in a printed line. The response data the
running script can reach is handed to the masking when it prints (and only then)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.telemetry.conftest import served, upstream

__all__ = ["served", "upstream"]

#: a token the backend answers with
ANSWERED = "answ3red-t0k3n-c4n4ry"


def _issuer() -> web.Application:
    async def issue(request: web.Request) -> web.Response:
        return web.json_response({"user": "ada", "token": ANSWERED, "nested": {"secret": ANSWERED + "-2"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", issue)
    return app


async def test_a_script_printing_response_data_keeps_its_secrets(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    host = await upstream(_issuer())
    proxy_post = (
        "local r = response.load(); local d = r:data()"
        "; print('proxy got ' .. d:get('user') .. ' ' .. d:get('token') .. ' ' .. d:get('nested'):get('secret'))"
    )
    backend_post = "local r = response.load(); print('backend got ' .. r:data():get('token'))"
    raw_post = (
        "local r = response.load(); print('raw body ' .. r:body()); print('raw got ' .. json.decode(r:body()).token)"
    )

    def endpoint(path: str, encoding: str, level: str, script: str) -> dict[str, Any]:
        backend: dict[str, Any] = {"host": [host], "url_pattern": "/t", "encoding": encoding}
        lua = {"post": script, "allow_open_libs": False}
        where = "modifier/lua-proxy" if level == "proxy" else "modifier/lua-backend"
        if level == "proxy":
            return {"endpoint": path, "output_encoding": encoding, "extra_config": {where: lua}, "backend": [backend]}
        backend["extra_config"] = {where: lua}
        return {"endpoint": path, "output_encoding": encoding, "backend": [backend]}

    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/logging": {"level": "DEBUG", "stdout": True}},
            "endpoints": [
                endpoint("/proxy", "json", "proxy", proxy_post),
                endpoint("/backend", "json", "backend", backend_post),
                endpoint("/raw", "no-op", "backend", raw_post),
            ],
        }
    )
    for path in ("/proxy", "/backend", "/raw"):
        resp = await s.client.get(path)
        assert resp.status == 200, await resp.text()
        assert ANSWERED in await resp.text()  # the client gets its answer as it came
    await s.gateway.close()
    out = capfd.readouterr().out
    assert ANSWERED not in out, out
    assert "lua: proxy got ada [REDACTED] [REDACTED]" in out
    assert "lua: backend got [REDACTED]" in out
    assert 'lua: raw body {"user": "ada", "token": "[REDACTED]"' in out and "lua: raw got [REDACTED]" in out


async def test_a_field_the_script_sets_after_a_print_is_masked_in_the_next(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """The masked values were worked out once per answer object: a script that printed, then set a
    masked field of the same data (a token it made or exchanged) and printed it, wrote the new value."""
    host = await upstream(_issuer())
    made = "s3t-by-scr1pt-c4n4ry"
    post = (
        "local r = response.load(); local d = r:data(); print('before ' .. d:get('token'))"
        f"; d:set('token', '{made}'); print('after ' .. d:get('token'))"
    )
    backend: dict[str, Any] = {"host": [host], "url_pattern": "/t"}
    endpoint = {"endpoint": "/p", "extra_config": {"modifier/lua-proxy": {"post": post}}, "backend": [backend]}
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/logging": {"level": "DEBUG", "stdout": True}},
            "endpoints": [endpoint],
        }
    )
    resp = await s.client.get("/p")
    assert resp.status == 200 and made in await resp.text()  # the client gets the answer as the script made it
    await s.gateway.close()
    out = capfd.readouterr().out
    assert ANSWERED not in out and made not in out, out
    assert "lua: before [REDACTED]" in out and "lua: after [REDACTED]" in out, out
