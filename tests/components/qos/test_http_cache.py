"""qos/http-cache: private caches per backend, one shared cache for every shared backend."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from aiohttp import web

from krakenpy.components.qos.http_cache import COMPONENT, SHARED_CACHE, CacheOptions
from krakenpy.resources import Resources
from tests.components.qos.helpers import resources_for, site_for
from tests.conftest import make_config


def _cacheable_app(hits: dict[str, int]) -> web.Application:
    """A loopback backend whose answers may be cached for a minute; counts the requests per path."""

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] = hits.get(request.path, 0) + 1
        headers = {"Cache-Control": "max-age=60", "Date": formatdate(usegmt=True)}
        return web.json_response({"n": hits[request.path]}, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


async def _two_backends(raw: dict[str, Any]) -> tuple[Any, Any, Resources]:
    site = site_for(COMPONENT.namespace, raw, level="backend")
    resources = resources_for(site)
    options = COMPONENT.parse(raw, site)
    assert COMPONENT.client is not None
    first = await COMPONENT.client(options, site, resources)
    second = await COMPONENT.client(options, site, resources)
    return first, second, resources


def test_http_cache_parse_values() -> None:
    site = site_for(COMPONENT.namespace, {}, level="backend")
    assert COMPONENT.parse({}, site) == CacheOptions()
    assert COMPONENT.parse({"shared": True, "max_size": 10, "max_items": 2.0}, site) == CacheOptions(True, 10, 2)


async def test_http_cache_private_caches_are_separate(backend: Any) -> None:
    hits: dict[str, int] = {}
    base = await backend(_cacheable_app(hits))
    first, second, resources = await _two_backends({})
    try:
        a, b = first(resources.http.request), second(resources.http.request)
        assert (await a("GET", f"{base}/x", [], None)).body == b'{"n": 1}'
        assert (await b("GET", f"{base}/x", [], None)).body == b'{"n": 2}'  # its own cache: a miss
        assert (await a("GET", f"{base}/x", [], None)).body == b'{"n": 1}'  # a hit
        assert hits == {"/x": 2}
        assert SHARED_CACHE not in resources.state
    finally:
        await resources.http.close()


async def test_http_cache_shared_backends_use_one_store(backend: Any) -> None:
    hits: dict[str, int] = {}
    base = await backend(_cacheable_app(hits))
    first, second, resources = await _two_backends({"shared": True})
    try:
        store = resources.state[SHARED_CACHE]
        a, b = first(resources.http.request), second(resources.http.request)
        await a("GET", f"{base}/x", [], None)
        assert (await b("GET", f"{base}/x", [], None)).body == b'{"n": 1}'  # the first backend's entry
        await b("GET", f"{base}/y", [], None)
        assert len(store) == 2 and hits == {"/x": 1, "/y": 1}
    finally:
        await resources.http.close()


async def test_http_cache_through_gateway(backend: Any, gateway: Any) -> None:
    hits: dict[str, int] = {}

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] = hits.get(request.path, 0) + 1
        cc = "no-store" if request.path == "/nostore" else "max-age=60"
        return web.json_response({"n": hits[request.path]}, headers={"Cache-Control": cc})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    host = await backend(app)
    cached = {COMPONENT.namespace: {}}
    doc = make_config(
        [
            {"endpoint": "/c", "backend": [{"host": [host], "url_pattern": "/cacheable", "extra_config": cached}]},
            {"endpoint": "/n", "backend": [{"host": [host], "url_pattern": "/nostore", "extra_config": cached}]},
        ]
    )
    client = await gateway(doc)
    assert [await (await client.get("/c")).json() for _ in range(3)] == [{"n": 1}] * 3
    assert [await (await client.get("/n")).json() for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert hits == {"/cacheable": 1, "/nostore": 3}
