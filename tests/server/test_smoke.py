from __future__ import annotations

from aiohttp import web

from tests.conftest import make_config


async def test_gateway_single_backend_filters_and_marks_complete(backend, gateway) -> None:
    async def users(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "name": "ann", "secret": "x"})

    app = web.Application()
    app.router.add_get("/u/{id}", users)
    url = await backend(app)
    client = await gateway(
        make_config(
            [{"endpoint": "/users/{id}", "backend": [{"host": [url], "url_pattern": "/u/{id}", "deny": ["secret"]}]}]
        )
    )
    resp = await client.get("/users/7")
    assert resp.status == 200
    assert await resp.text() == '{"id":"7","name":"ann"}'
    assert resp.headers["X-Krakend-Completed"] == "true"
