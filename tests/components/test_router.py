"""``router``: parsed into RouterOptions by the model; the router honours it."""

from __future__ import annotations

from typing import Any

from krakenpy.components.router import COMPONENT
from krakenpy.config.options import RouterOptions
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_router_parse_defaults_and_fields() -> None:
    assert COMPONENT.parse(None, site("router", "service")) == RouterOptions()
    parsed = COMPONENT.parse(
        {"health_path": "/healthz", "error_body": {"404": {"e": "nf"}}, "trusted_proxies": ["10.0.0.0/8"]},
        site("router", "service"),
    )
    assert parsed.health_path == "/healthz"
    assert parsed.error_body_404 == {"e": "nf"} and parsed.error_body_405 is None
    assert parsed.trusted_proxies == ("10.0.0.0/8",)
    assert parsed.forwarded_by_client_ip is True


def test_router_component_is_core_and_service_level() -> None:
    assert COMPONENT.core and COMPONENT.levels == {"service"} and COMPONENT.layers == ()


async def test_router_options_reach_the_router(backend, gateway) -> None:
    host = await backend(json_app({"a": 1}))
    doc = make_config(
        [{"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/"}]}],
        extra_config={"router": {"health_path": "/healthz", "error_body": {"404": {"e": "nf"}}}},
    )
    client = await gateway(doc)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/__health")).status == 404
    missing = await client.get("/nope")
    assert missing.status == 404 and await missing.json() == {"e": "nf"}


def _option_routes_doc(host: str, *, auto: bool, cors: bool = False, passthrough: bool = False) -> dict[str, Any]:
    def endpoint(path: str, method: str) -> dict[str, Any]:
        return {"endpoint": path, "method": method, "backend": [{"host": [host], "url_pattern": "/"}]}

    extra: dict[str, Any] = {"router": {"auto_options": auto}}
    if cors:
        extra["security/cors"] = {"allow_origins": ["https://a.example"], "allow_methods": ["GET", "POST"]}
        extra["security/cors"]["options_passthrough"] = passthrough
    return make_config(
        [
            endpoint("/a", "POST"),
            endpoint("/a", "GET"),
            endpoint("/users/{id}", "DELETE"),
            endpoint("/users/{uid}", "PUT"),
            endpoint("/users/{id}/posts", "GET"),
        ],
        extra_config=extra,
    )


async def test_router_auto_options_answers_options_with_the_paths_methods(backend, gateway) -> None:
    host = await backend(json_app({"a": 1}))
    client = await gateway(_option_routes_doc(host, auto=True))
    answer = await client.options("/a")
    assert answer.status == 200 and await answer.read() == b""
    assert answer.headers["Allow"] == "GET, POST"
    assert answer.headers["X-Krakend"] == (await client.get("/nope")).headers["X-Krakend"]
    assert "Content-Type" not in answer.headers and "X-Krakend-Completed" not in answer.headers
    # parameters named differently by two methods: one route, the methods of both
    assert (await client.options("/users/7")).headers["Allow"] == "DELETE, PUT"
    assert (await client.options("/users/7/posts")).headers["Allow"] == "GET"
    assert (await client.options("/nope")).status == 404
    # the OPTIONS routes count in a 405's Allow, as gin lists every method tree holding the path
    refused = await client.patch("/a")
    assert refused.status == 405 and "OPTIONS" in refused.headers["Allow"].split(", ")


async def test_router_without_auto_options_refuses_options(backend, gateway) -> None:
    host = await backend(json_app({"a": 1}))
    client = await gateway(_option_routes_doc(host, auto=False))
    answer = await client.options("/a")
    assert answer.status == 405 and answer.headers["Allow"] == "GET, POST"


async def test_router_auto_options_leaves_the_cors_preflight_to_cors(backend, gateway) -> None:
    host = await backend(json_app({"a": 1}))
    client = await gateway(_option_routes_doc(host, auto=True, cors=True))
    preflight = await client.options(
        "/a", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204 and "Allow" not in preflight.headers
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"
    plain = await client.options("/a", headers={"Origin": "https://a.example"})  # not a preflight: routed
    assert plain.status == 200 and plain.headers["Allow"] == "GET, POST"


async def test_router_auto_options_answers_a_passed_through_preflight_with_its_cors_headers(backend, gateway) -> None:
    """``options_passthrough``: the preflight reaches the router, whose OPTIONS route answers it; the
    CORS headers stay on that answer."""
    host = await backend(json_app({"a": 1}))
    client = await gateway(_option_routes_doc(host, auto=True, cors=True, passthrough=True))
    preflight = await client.options(
        "/a", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 200 and preflight.headers["Allow"] == "GET, POST"
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"


async def test_router_auto_options_keeps_a_literal_braces_segment_apart_from_a_parameter(backend, gateway) -> None:
    # ``{}`` is no parameter (a name is needed): a static segment, as for lura, where ``/a/{}`` and
    # ``/a/{id}`` get an OPTIONS route each (main: one shape for both, the parameter's path had none: 405)
    host = await backend(json_app({"a": 1}))

    def endpoint(path: str, method: str) -> dict[str, Any]:
        return {"endpoint": path, "method": method, "backend": [{"host": [host], "url_pattern": "/"}]}

    doc = make_config(
        [endpoint("/a/{}", "GET"), endpoint("/a/{id}", "POST")], extra_config={"router": {"auto_options": True}}
    )
    client = await gateway(doc)
    answer = await client.options("/a/7")
    assert answer.status == 200 and answer.headers["Allow"] == "POST"
    answer = await client.options("/a/{}")
    assert answer.status == 200 and answer.headers["Allow"] == "GET"
