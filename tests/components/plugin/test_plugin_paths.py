"""The paths only the server plugins produce (``/__virtual/``, ``/__wildcard/``) are 404 from a client
or url-rewrite; the wildcard's rest reaches the backend as the client escaped it, never with dot-like
segments; ``check`` warns about an endpoint a wildcard prefix shadows."""

from __future__ import annotations

import pytest
from aiohttp import web

from krakenpy.components.plugin.http_server import COMPONENT
from tests.components.helpers import site
from tests.components.plugin.test_http_server import Gateway, Start, _doc, _paths_app, _raw_status


async def test_plugin_paths_virtualhost_path_sent_by_the_client_is_404(backend: Start, gateway: Gateway) -> None:
    seen: list[str] = []
    url = await backend(_paths_app(seen))
    doc = _doc(url, {"name": ["virtualhost"], "virtualhost": {"hosts": ["a.test"]}}, plain="/v")
    doc["endpoints"].append({"endpoint": "/__virtual/a.test/v", "backend": [{"host": [url], "url_pattern": "/a"}]})
    client = await gateway(doc)
    # another host cannot pick a.test's endpoint by its internal path
    for host in ("other.test", "a.test"):
        response = await client.get("/__virtual/a.test/v", headers={"Host": host})
        assert response.status == 404 and await response.text() == "404 page not found", host
    assert (await client.get("/v", headers={"Host": "a.test"})).status == 200
    assert seen == ["/a"]


@pytest.mark.parametrize("order", [["wildcard", "url-rewrite"], ["url-rewrite", "wildcard"]])
async def test_plugin_paths_url_rewrite_cannot_target_a_wildcard_receiver(
    backend: Start, gateway: Gateway, order: list[str]
) -> None:
    seen: list[str] = []
    url = await backend(_paths_app(seen))
    wildcard = {"endpoints": {"/__wildcard/foo": ["/foo"]}}
    rewrite = {"literal": {"/old": "/__wildcard/foo", "/older": "/foo/x"}}
    doc = _doc(url, {"name": order, "wildcard": wildcard, "url-rewrite": rewrite}, plain="/plain")
    client_plugin = {"plugin/http-client": {"name": "wildcard", "wildcard": wildcard}}
    doc["endpoints"].append(
        {
            "endpoint": "/__wildcard/foo",
            "backend": [{"host": [url], "url_pattern": "/legacy", "extra_config": client_plugin}],
        }
    )
    client = await gateway(doc)
    assert (await client.get("/old")).status == 404
    assert (await client.get("/foo/y")).status == 200
    # rewritten into the prefix: the wildcard routes it only when url-rewrite wraps it (named last)
    expected = 200 if order[0] == "wildcard" else 404
    assert (await client.get("/older")).status == expected
    assert seen == ["/legacy/y", "/legacy/x"][: 1 + (expected == 200)]


def test_plugin_paths_wildcard_shadowing_a_declared_endpoint_warns() -> None:
    paths = ["/__wildcard/foo", "/foo/admin", "/foo/{id}/x", "/foobar", "/bar"]
    endpoints = [{"endpoint": p, "backend": [{"host": ["http://h"], "url_pattern": "/"}]} for p in paths]
    where = site("plugin/http-server", "service", {"version": 3, "endpoints": endpoints})
    COMPONENT.parse({"name": ["wildcard"], "wildcard": {"endpoints": {"/__wildcard/foo": ["/foo"]}}}, where)
    messages = [n.message for n in where.notes]
    assert len(messages) == 2
    assert "/foo/admin" in messages[0] and "/foo/{id}/x" in messages[1]


async def test_plugin_paths_wildcard_keeps_the_raw_rest_and_refuses_dot_like_segments(
    backend: Start, gateway: Gateway
) -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    url = await backend(app)
    wildcard = {"endpoints": {"/__wildcard/foo": ["/foo"]}}
    doc = _doc(url, {"name": ["wildcard"], "wildcard": wildcard}, plain="/plain")
    client_plugin = {"plugin/http-client": {"name": "wildcard", "wildcard": wildcard}}
    doc["endpoints"].append(
        {
            "endpoint": "/__wildcard/foo",
            "backend": [{"host": [url], "url_pattern": "/l", "extra_config": client_plugin}],
        }
    )
    client = await gateway(doc)
    # ..; is .. to a servlet container; a backslash is a separator to some servers
    for target in ("/foo/..;/x", "/foo/..%3B/x", "/foo/..;a/x", "/foo/..%5cx", "/foo/.%5C..%5Cx", "/foo/%2e%2e%3bx/y"):
        assert await _raw_status(client, target) == 404, target
    assert seen == []
    # the rest goes on as the client escaped it: %2F stays inside its segment, %3B stays text
    for target in ("/foo/a%2Fb", "/foo/a%3Bb/c", "/foo/x..;y"):
        assert await _raw_status(client, target) == 200, target
    assert seen == ["/l/a%2Fb", "/l/a%3Bb/c", "/l/x..;y"]
