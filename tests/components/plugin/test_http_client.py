"""``plugin/http-client``: the built-in no-redirect (``backend/http/client.no_redirect``'s switch)
against a real redirecting backend, and what ``check`` says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from krakenpy.components.plugin.http_client import COMPONENT, ClientPlugin
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from tests.components.helpers import site
from tests.conftest import make_config

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]


def _redirecting(seen: list[str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/up":
            raise web.HTTPFound("/next")
        return web.json_response({"followed": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _doc(url: str, name: str | None) -> dict[str, Any]:
    backend: dict[str, Any] = {"host": [url], "url_pattern": "/up", "encoding": "no-op"}
    if name is not None:
        backend["extra_config"] = {"plugin/http-client": {"name": name}}
    return make_config([{"endpoint": "/e", "output_encoding": "no-op", "backend": [backend]}])


@pytest.mark.parametrize("name", ["no-redirect", "krakend-redirect"])
async def test_http_client_no_redirect_answers_the_3xx_as_it_is(backend: Start, gateway: Gateway, name: str) -> None:
    seen: list[str] = []
    client = await gateway(_doc(await backend(_redirecting(seen)), name))
    answer = await client.get("/e", allow_redirects=False)
    assert answer.status == 302 and answer.headers["Location"] == "/next"
    assert seen == ["/up"]  # never followed


async def test_http_client_without_the_plugin_follows_redirects(backend: Start, gateway: Gateway) -> None:
    seen: list[str] = []
    client = await gateway(_doc(await backend(_redirecting(seen)), None))
    answer = await client.get("/e", allow_redirects=False)
    assert answer.status == 200 and await answer.json() == {"followed": True}
    assert seen == ["/up", "/next"]


def test_http_client_no_redirect_is_the_backend_http_client_switch() -> None:
    service = build_service(_doc("http://127.0.0.1:8000", "no-redirect"))
    assert service.endpoints[0].backends[0].http_client.no_redirect is True
    other = build_service(_doc("http://127.0.0.1:8000", "auth-token"))
    assert other.endpoints[0].backends[0].http_client.no_redirect is False


def test_http_client_no_redirect_with_a_decoding_backend_warns() -> None:
    where = site("plugin/http-client", "backend")  # the helper's backend decodes JSON
    assert COMPONENT.parse({"name": "no-redirect"}, where) == ClientPlugin("no-redirect")
    assert len(where.notes) == 1 and "only no-op" in where.notes[0].message


def test_http_client_without_a_name_has_no_effect_and_says_so() -> None:
    where = site("plugin/http-client", "backend")
    assert COMPONENT.parse({}, where) == ClientPlugin()
    assert [n.message for n in where.notes] == [
        "names no plugin: no effect (KrakenD runs only the plugins its name lists)"
    ]


async def test_http_client_builds_no_executor() -> None:
    """no-redirect is the core HTTP executor's switch: the component adds nothing per request."""
    where = site("plugin/http-client", "backend")
    assert await COMPONENT.executor(ClientPlugin("no-redirect"), where, None) is None  # type: ignore[misc, arg-type]


async def test_http_client_static_filesystem_answers_from_a_file(gateway: Gateway, tmp_path: Any) -> None:
    (tmp_path / "mocks" / "users").mkdir(parents=True)
    (tmp_path / "mocks" / "users" / "7.json").write_text('{"id": 7, "secret": "x"}')
    backend = {
        "host": ["http://127.0.0.1:8000"],  # never called
        "url_pattern": "/users/{id}.json",
        "allow": ["id"],
        "extra_config": {"plugin/http-client": {"name": "static-filesystem", "static-filesystem": {"path": "mocks"}}},
    }
    client = await gateway(make_config([{"endpoint": "/users/{id}", "backend": [backend]}]), base_dir=tmp_path)
    found = await client.get("/users/7")
    assert found.status == 200 and await found.json() == {"id": 7}  # decoded and filtered like an HTTP answer
    assert (await client.get("/users/8")).status == 500  # the file backend's 404 fails the only backend


def test_http_client_static_filesystem_without_its_object_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"name": "static-filesystem"}, site("plugin/http-client", "backend"))
    assert info.value.issues[0].path == "endpoints[0].backend[0].extra_config.plugin/http-client.static-filesystem"


def test_http_client_only_static_filesystem_stands_in_for_a_host(tmp_path: Any) -> None:
    import json

    from krakenpy.gateway import load

    plugins = [{"name": "no-redirect"}, {"name": "static-filesystem", "static-filesystem": {"path": "mocks"}}]
    endpoints = [
        {"endpoint": f"/e{i}", "backend": [{"url_pattern": "/a.json", "extra_config": {"plugin/http-client": p}}]}
        for i, p in enumerate(plugins)
    ]
    (tmp_path / "krakend.json").write_text(json.dumps(make_config(endpoints)))
    warned = [w.path for w in load(tmp_path / "krakend.json", use_env=False).warnings if "no host" in w.message]
    assert warned == ["endpoints[0].backend[0].host"]
