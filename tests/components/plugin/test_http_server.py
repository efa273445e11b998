"""``plugin/http-server``: the built-in ip-filter and url-rewrite, through a real gateway before the
router, and what ``check`` says about the namespace."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from krakenpy.components.plugin.http_server import COMPONENT, ServerPlugins
from krakenpy.errors import ConfigError
from tests.components.helpers import json_app, site
from tests.conftest import make_config

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]


def _site() -> Any:
    return site("plugin/http-server", "service")


def _doc(url: str, plugins: dict[str, Any], **endpoint_paths: str) -> dict[str, Any]:
    paths = endpoint_paths or {"hello": "/hello", "user": "/users/{id}"}
    endpoints = [{"endpoint": p, "backend": [{"host": [url], "url_pattern": "/echo"}]} for p in paths.values()]
    return make_config(endpoints, extra_config={"plugin/http-server": plugins})


def _paths_app(seen: list[str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _raw_status(client: TestClient[Any, Any], target: str) -> int:
    """Send ``target`` byte for byte (no client-side normalisation of ``..``)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return int(answer.split(b" ", 2)[1])


# ip-filter ----------------------------------------------------------------------------------------


async def test_http_server_ip_filter_allow_list_rejects_everyone_else_with_403(
    backend: Start, gateway: Gateway
) -> None:
    url = await backend(json_app({"ok": True}))
    client = await gateway(_doc(url, {"name": ["ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"], "allow": True}}))
    rejected = await client.get("/hello")  # the test client is 127.0.0.1
    assert rejected.status == 403 and await rejected.read() == b""
    assert "X-Krakend" not in rejected.headers  # answered before the router
    for path in ("/nowhere", "/__health"):  # every path, unknown ones and the built-ins too
        assert (await client.get(path)).status == 403
    # no trusted_proxies: every peer is trusted, so the forwarded address decides (KrakenD's default)
    allowed = await client.get("/hello", headers={"X-Forwarded-For": "10.1.2.3"})
    assert allowed.status == 200 and await allowed.json() == {"ok": True}


async def test_http_server_ip_filter_deny_list_rejects_only_its_networks(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({"ok": True}))
    cidr = ["192.168.0.0/24", "2001:db8::/32", "127.0.0.1"]
    client = await gateway(_doc(url, {"name": ["ip-filter"], "ip-filter": {"CIDR": cidr}}))  # allow: false
    assert (await client.get("/hello")).status == 403  # 127.0.0.1, a bare address
    assert (await client.get("/hello", headers={"X-Real-IP": "192.168.0.9"})).status == 403
    assert (await client.get("/hello", headers={"X-Forwarded-For": "2001:db8::1"})).status == 403
    assert (await client.get("/hello", headers={"X-Appengine-Remote-Addr": "192.168.1.9"})).status == 200
    assert (await client.get("/hello", headers={"X-Forwarded-For": "::ffff:192.168.0.3"})).status == 403


async def test_http_server_ip_filter_trusted_proxies_stop_spoofing(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({"ok": True}))
    filt = {"CIDR": ["10.0.0.0/8"], "allow": True, "trusted_proxies": ["127.0.0.1"], "client_ip_headers": ["X-Real-IP"]}
    client = await gateway(_doc(url, {"name": ["ip-filter"], "ip-filter": filt}))
    # the peer (127.0.0.1) is a trusted proxy: its X-Real-IP is believed
    assert (await client.get("/hello", headers={"X-Real-IP": "10.0.0.7"})).status == 200
    # a header the filter does not read changes nothing
    assert (await client.get("/hello", headers={"X-Forwarded-For": "10.0.0.7"})).status == 403
    # right to left through trusted proxies: the client is the first hop that is not one
    assert (await client.get("/hello", headers={"X-Real-IP": "10.0.0.7, 127.0.0.1"})).status == 200
    assert (await client.get("/hello", headers={"X-Real-IP": "not-an-ip"})).status == 403


async def test_http_server_ip_filter_untrusted_peer_headers_are_ignored(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({"ok": True}))
    filt = {"CIDR": ["127.0.0.1"], "allow": False, "trusted_proxies": ["10.9.9.9"]}
    client = await gateway(_doc(url, {"name": ["ip-filter"], "ip-filter": filt}))
    # the peer is not a trusted proxy: its own address is checked, whatever it forwards
    assert (await client.get("/hello", headers={"X-Forwarded-For": "8.8.8.8"})).status == 403


def test_http_server_ip_filter_bad_addresses_are_errors_at_their_json_path() -> None:
    raw = {"name": ["ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8", "10.0.0.300"], "trusted_proxies": ["x"]}}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(raw, _site())
    paths = [i.path for i in info.value.issues]
    assert paths == [
        "extra_config.plugin/http-server.ip-filter.CIDR[1]",
        "extra_config.plugin/http-server.ip-filter.trusted_proxies[0]",
    ]


def test_http_server_ip_filter_without_trusted_proxies_warns_about_spoofing() -> None:
    where = _site()
    COMPONENT.parse({"name": ["ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"], "allow": True}}, where)
    assert [n.path for n in where.notes] == ["extra_config.plugin/http-server.ip-filter"]
    assert "X-Forwarded-For" in where.notes[0].message
    quiet = _site()
    COMPONENT.parse({"name": ["ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"], "client_ip_headers": []}}, quiet)
    assert quiet.notes == []  # the connection's address only: nothing to spoof


def test_http_server_named_plugin_without_its_object_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"name": ["ip-filter"]}, _site())
    assert info.value.issues[0].path == "extra_config.plugin/http-server.ip-filter"


# url-rewrite --------------------------------------------------------------------------------------


async def test_http_server_url_rewrite_literal_then_regexp_before_the_router(backend: Start, gateway: Gateway) -> None:
    seen: list[str] = []
    url = await backend(_paths_app(seen))
    rewrite = {
        "literal": {"/hi-there": "/hello", "/users/me": "/users/{id}"},
        "regexp": [["^/people/(\\w+)/profile$", "/users/${1}"], ["/old/(?P<rest>.*)", "/$rest"]],
    }
    doc = _doc(url, {"name": ["url-rewrite"], "url-rewrite": rewrite})
    doc["endpoints"][1]["backend"][0]["url_pattern"] = "/u/{id}"
    client = await gateway(doc)
    assert (await client.get("/hi-there?x=1")).status == 200  # the query is kept
    assert (await client.get("/people/ana/profile")).status == 200
    assert (await client.get("/users/me")).status == 200  # literal: the placeholder as written
    assert (await client.get("/old/hello")).status == 200
    assert seen == ["/echo", "/u/ana", "/u/%7Bid%7D", "/echo"]
    assert (await client.get("/people/ana/profile/more")).status == 404  # anchored: no match, no route
    assert (await client.get("/hello")).status == 200  # the endpoint's own path still works


async def test_http_server_ip_filter_and_url_rewrite_together(backend: Start, gateway: Gateway) -> None:
    url = await backend(json_app({"ok": True}))
    plugins = {
        "name": ["ip-filter", "url-rewrite"],
        "ip-filter": {"CIDR": ["127.0.0.1"], "allow": True},
        "url-rewrite": {"literal": {"/alias": "/hello"}},
    }
    client = await gateway(_doc(url, plugins))
    assert (await client.get("/alias")).status == 200
    assert (await client.get("/alias", headers={"X-Forwarded-For": "8.8.8.8"})).status == 403


def test_http_server_url_rewrite_bad_regexp_is_an_error_at_its_json_path() -> None:
    raw = {"name": ["url-rewrite"], "url-rewrite": {"regexp": [["/ok/(\\d+)", "/x/$1"], ["/bad/(?<=x)", "/y"]]}}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(raw, _site())
    assert info.value.issues[0].path == "extra_config.plugin/http-server.url-rewrite.regexp[1][0]"


def test_http_server_go_replacement_templates() -> None:
    from krakenpy.goregex import compile_go

    regex = compile_go("/a/(?P<name>[a-z]+)/([0-9]+)")
    assert regex.replace_all("/a/bob/42", "/u/${name}/$2") == "/u/bob/42"
    assert regex.replace_all("/a/bob/42", "/u/$2x/$$/${3}") == "/u//$/"  # $2x is the group named 2x
    assert regex.replace_all("/a/bob/42", "/u/${oops") == "/u/${oops"  # malformed: the $ is kept
    assert compile_go("x*").replace_all("abxxc", "-") == "-a-b-c-"  # Go skips the empty match after xx


def test_http_server_go_replacement_group_names_as_go_reads_them() -> None:
    from krakenpy.goregex import compile_go

    regex = compile_go("(a)")
    assert regex.replace_all("a", "[$01]") == "[]"  # a leading zero: not a number, so a name (none)
    assert regex.replace_all("a", "[$1ñ]") == "[]"  # non-ASCII letters extend the name: group 1ñ
    assert regex.replace_all("a", "[${1}ñ|$0|$1_]") == "[añ|a|]"
    assert compile_go("(?P<año>a)").replace_all("a", "<$año>") == "<a>"


def test_http_server_go_replacement_on_text_that_was_not_utf8() -> None:
    from krakenpy.goregex import compile_go

    # a byte that was not UTF-8 (a lone surrogate) matches as U+FFFD and is kept as it came
    assert compile_go("b").replace_all("a\udcffb", "-") == "a\udcff-"
    assert compile_go("(.)").replace_all("a\udcffb", "[$1]") == "[a][\udcff][b]"


# what the namespace says ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [{}, {"name": []}, {"request_header_blacklist": []}])
def test_http_server_without_names_has_no_effect_and_says_so(raw: dict[str, Any]) -> None:
    where = _site()
    assert COMPONENT.parse(raw, where) == ServerPlugins()
    assert [n.message for n in where.notes] == [
        "names no plugin: no effect (KrakenD runs only the plugins its name lists)"
    ]


def test_http_server_plugin_object_left_out_of_name_is_not_run() -> None:
    where = _site()
    parsed = COMPONENT.parse({"name": ["jwk-aggregator"], "ip-filter": {"CIDR": ["10.0.0.0/8"]}}, where)
    assert parsed == ServerPlugins()  # jwk-aggregator is a Go plugin here: the settings check speaks for it
    assert [n.path for n in where.notes] == ["extra_config.plugin/http-server.ip-filter"]


async def test_http_server_absent_namespace_builds_nothing() -> None:
    assert await COMPONENT.edge(None, _site(), None) is None  # type: ignore[misc, arg-type]
    assert await COMPONENT.edge(ServerPlugins(), _site(), None) is None  # type: ignore[misc, arg-type]


# virtualhost and static-filesystem -----------------------------------------------------------------


async def test_http_server_virtualhost_routes_listed_hosts_to_their_own_endpoints(
    backend: Start, gateway: Gateway
) -> None:
    seen: list[str] = []
    url = await backend(_paths_app(seen))
    doc = _doc(url, {"name": ["virtualhost"], "virtualhost": {"hosts": ["a.test", "b.test"]}}, plain="/foo")
    doc["endpoints"] += [
        {"endpoint": "/__virtual/a.test/foo", "backend": [{"host": [url], "url_pattern": "/from-a"}]},
        {"endpoint": "/__virtual/b.test/foo", "backend": [{"host": [url], "url_pattern": "/from-b"}]},
    ]
    client = await gateway(doc)
    assert (await client.get("/foo", headers={"Host": "a.test"})).status == 200
    assert (await client.get("/foo?x=1", headers={"Host": "b.test"})).status == 200
    assert (await client.get("/foo", headers={"Host": "other.test"})).status == 200
    assert seen == ["/from-a", "/from-b", "/echo"]
    assert (await client.get("/bar", headers={"Host": "a.test"})).status == 404


def test_http_server_virtualhost_without_endpoints_for_a_host_warns() -> None:
    where = _site()
    COMPONENT.parse({"name": ["virtualhost"], "virtualhost": {"hosts": ["a.test"]}}, where)
    assert [n.path for n in where.notes] == ["extra_config.plugin/http-server.virtualhost.hosts"]


async def test_http_server_static_filesystem_serves_before_the_router(
    backend: Start, gateway: Gateway, tmp_path: Any
) -> None:
    (tmp_path / "www" / "docs").mkdir(parents=True)
    (tmp_path / "www" / "app.css").write_text("body{}")
    (tmp_path / "www" / "docs" / "a.txt").write_text("a")
    (tmp_path / "www" / ".secret").write_text("no")
    url = await backend(json_app({"ok": True}))
    plugin = {"name": ["static-filesystem"], "static-filesystem": {"prefix": "/static/", "path": "www"}}
    client = await gateway(_doc(url, plugin), base_dir=tmp_path)
    css = await client.get("/static/app.css")
    assert css.status == 200 and await css.text() == "body{}"
    listing = await client.get("/static/docs/")  # the plugin listed folders
    assert listing.status == 200 and "a.txt" in await listing.text()
    assert (await client.get("/static/.secret")).status == 404  # hidden names: never (krakenpy's staticfs)
    assert (await client.get("/hello")).status == 200


def test_http_server_static_filesystem_bad_prefix_is_an_error_at_its_json_path() -> None:
    raw = {"name": ["static-filesystem"], "static-filesystem": {"prefix": "/a/../b", "path": "www"}}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(raw, _site())
    assert info.value.issues[0].path == "extra_config.plugin/http-server.static-filesystem.prefix"


# wildcard ------------------------------------------------------------------------------------------


async def test_http_server_wildcard_routes_a_prefix_and_the_backend_gets_the_rest(
    backend: Start, gateway: Gateway
) -> None:
    seen: list[str] = []
    url = await backend(_paths_app(seen))
    wildcard = {"endpoints": {"/__wildcard/foo": ["/foo", "/aliasfoo"], "/__wildcard/deep": ["/foo/deep"]}}
    doc = _doc(url, {"name": ["wildcard"], "wildcard": wildcard}, plain="/foobar")
    client_plugin = {"plugin/http-client": {"name": "wildcard", "wildcard": wildcard}}
    doc["endpoints"] += [
        {
            "endpoint": path,
            "input_query_strings": ["x"],
            "backend": [{"host": [url], "url_pattern": f"/legacy{path[11:]}", "extra_config": client_plugin}],
        }
        for path in ("/__wildcard/foo", "/__wildcard/deep")
    ]
    client = await gateway(doc)
    for path in ("/foo", "/foo/a/b?x=1", "/aliasfoo/c%20d/", "/foo/deep/e", "/foobar"):
        assert (await client.get(path)).status == 200, path
    assert seen == ["/legacy/foo", "/legacy/foo/a/b?x=1", "/legacy/foo/c%20d/", "/legacy/deep/e", "/echo"]
    # dot segments are never rewritten: the router answers them (404), the backend never sees them
    for target in ("/foo/%2e%2e/admin", "/foo/../admin", "/foo/./x"):
        assert await _raw_status(client, target) == 404, target
    assert len(seen) == 5
    # the receiving endpoint called directly: 404, it only takes what the plugin routes
    for path in ("/__wildcard/foo", "/__wildcard/foo/x"):
        assert (await client.get(path)).status == 404, path
    assert len(seen) == 5


def test_http_server_wildcard_without_its_receiving_endpoint_warns() -> None:
    where = _site()
    COMPONENT.parse({"name": ["wildcard"], "wildcard": {"endpoints": {"/__wildcard/x": ["/x"]}}}, where)
    assert [n.path for n in where.notes] == ["extra_config.plugin/http-server.wildcard.endpoints./__wildcard/x"]
