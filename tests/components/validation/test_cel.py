"""``validation/cel`` through the real pipeline and server, with a real loopback backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.components.base import Site
from krakenpy.components.validation import cel
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError, Rejection
from krakenpy.gateway import build_gateway
from krakenpy.jose import sources as sources_module
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.components.validation.helpers import HITS, backend_app
from tests.jose.helpers import JwksServer, claims, mint, rsa_key

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]
ABORTED = "request aborted by evaluator #{}"


def doc(host: str, endpoints: list[dict[str, Any]], *, msg: bool = True) -> dict[str, Any]:
    extra = {"router": {"return_error_msg": True}} if msg else {}
    return {"version": 3, "host": [host], "timeout": "2s", "endpoints": endpoints, "extra_config": extra}


def endpoint(path: str, checks: list[str], **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"endpoint": path, "backend": [{"url_pattern": "/b" + path.split("{")[0]}]}
    base.setdefault("extra_config", {})["validation/cel"] = [{"check_expr": c} for c in checks]
    for key, value in more.items():
        if key == "extra_config":
            base["extra_config"].update(value)
        else:
            base[key] = value
    return base


async def test_cel_endpoint_request_check_passes_and_fails(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    host = await backend(app)
    client = await gateway(doc(host, [endpoint("/users/{id}", ["int(req_params.Id) % 2 == 0"])]))
    ok = await client.get("/users/42")
    assert ok.status == 200
    assert (await ok.json())["path"] == "/b/users/"
    bad = await client.get("/users/43")
    assert bad.status == 500
    assert await bad.text() == ABORTED.format(0)
    assert bad.headers["X-Krakend-Completed"] == "false"
    assert "X-Krakend" in bad.headers
    assert app[HITS] == ["/b/users/"]  # the failing request never reached the backend


async def test_cel_endpoint_failure_body_only_with_return_error_msg(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    client = await gateway(doc(host, [endpoint("/a", ["req_method == 'POST'"])], msg=False))
    resp = await client.get("/a")
    assert resp.status == 500
    assert await resp.read() == b""
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_cel_endpoint_numbering_is_per_phase(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    checks = ["resp_completed", "req_method == 1", "req_method == 'GET'", "req_path == '/nope'"]
    client = await gateway(doc(host, [endpoint("/a", checks)]))
    resp = await client.get("/a")
    assert resp.status == 500
    assert await resp.text() == ABORTED.format(1)  # #0 is req_method == 'GET'; the type error is skipped
    assert any(
        "endpoints[0].extra_config.validation/cel[1].check_expr" in w for w in await build_warnings(host, checks)
    )


async def test_cel_endpoint_response_check(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    host = await backend(app)
    endpoints = [
        endpoint("/ok", ["resp_data.n == 7 && resp_completed", "resp_data.method == 'GET'"]),
        endpoint("/ko", ["resp_data.n > 7"]),
    ]
    client = await gateway(doc(host, endpoints))
    assert (await client.get("/ok")).status == 200
    ko = await client.get("/ko")
    assert ko.status == 500
    assert await ko.text() == ABORTED.format(0)
    assert app[HITS] == ["/b/ok", "/b/ko"]  # a response check runs after the call


async def test_cel_request_variables_are_the_forwarded_ones(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    checks = [
        "req_headers['X-Tenant'] == ['acme']",
        "!('X-Secret' in req_headers)",  # sent by the client, not forwarded
        "'X-Forwarded-For' in req_headers && 'User-Agent' in req_headers",
        "req_querystring.page == ['2'] && !('debug' in req_querystring)",
        "req_path == '/items/9' && req_params.Item_id == '9'",
        "timestamp(now) > timestamp('2020-01-01T00:00:00Z')",
    ]
    ep = endpoint("/items/{item_id}", checks, input_headers=["X-Tenant"], input_query_strings=["page"])
    client = await gateway(doc(host, [ep]))
    resp = await client.get("/items/9?page=2&debug=1", headers={"X-Tenant": "acme", "X-Secret": "s"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["tenant"] == "acme"


async def test_cel_backend_check_fails_only_that_backend(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    host = await backend(app)
    ep = {
        "endpoint": "/merge/{id}",
        "backend": [
            {"url_pattern": "/one/{id}", "group": "one"},
            {
                "url_pattern": "/two/{id}",
                "group": "two",
                "extra_config": {"validation/cel": [{"check_expr": "req_path == '/two/1'"}]},
            },
        ],
    }
    client = await gateway(doc(host, [ep]))
    full = await client.get("/merge/1")
    assert full.status == 200
    assert set(await full.json()) == {"one", "two"}
    assert full.headers["X-Krakend-Completed"] == "true"
    partial = await client.get("/merge/2")
    assert partial.status == 200
    assert set(await partial.json()) == {"one"}
    assert partial.headers["X-Krakend-Completed"] == "false"
    assert "/two/2" not in app[HITS]  # the backend request check runs before the call


async def test_cel_backend_check_on_a_single_backend_is_a_500(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    ep = {
        "endpoint": "/single",
        "backend": [{"url_pattern": "/s", "extra_config": {"validation/cel": [{"check_expr": "resp_data.n == 1"}]}}],
    }
    client = await gateway(doc(host, [ep]))
    resp = await client.get("/single")
    assert resp.status == 500
    assert await resp.text() == ABORTED.format(0)


async def test_cel_backend_sees_the_backend_response_after_its_filters(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    ep = {
        "endpoint": "/filtered",
        "backend": [
            {
                "url_pattern": "/f",
                "allow": ["n"],
                "mapping": {"n": "number"},
                "extra_config": {"validation/cel": [{"check_expr": "resp_data == {'number': 7.0}"}]},
            }
        ],
    }
    client = await gateway(doc(host, [ep]))
    resp = await client.get("/filtered")
    assert resp.status == 200
    assert await resp.json() == {"number": 7}


async def test_cel_jwt_checks_reject_with_401(
    backend: Start, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real auth/validator (keys from a loopback JWKS server) runs first, then the CEL JWT checks
    monkeypatch.setattr(sources_module, "REFETCH_WAIT", 30.0)  # no race with the first key download
    app = backend_app()
    host = await backend(app)
    jwks = JwksServer(keys=[rsa_key("k1")])
    jwks.url = await backend(jwks.app()) + "/jwks"
    validator = {"alg": "RS256", "jwk_url": jwks.url, "disable_jwk_security": True, "roles": ["admin", "user"]}
    checks = ["'admin' in JWT.roles && timestamp(int(JWT.exp)) > timestamp(now)", "req_method == 'GET'"]
    ep = endpoint("/me", checks, extra_config={"auth/validator": validator})
    client = await gateway(doc(host, [ep]))

    def bearer(roles: list[str]) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint(rsa_key("k1"), claims(roles=roles), alg="RS256")}

    assert (await client.get("/me", headers=bearer(["user", "admin"]))).status == 200
    for headers, status in (
        (bearer(["user"]), 401),  # the validator lets a user in; the CEL check wants an admin
        (bearer(["guest"]), 403),  # no role the validator accepts: refused before CEL runs
        ({}, 401),  # no token
    ):
        denied = await client.get("/me", headers=headers)
        assert denied.status == status, headers
        assert await denied.read() == b""
        assert "X-Krakend" not in denied.headers  # a guard's answer, like gin's AbortWithStatus
    assert app[HITS] == ["/b/me"]


async def build_warnings(host: str, checks: list[str]) -> list[str]:
    """What ``check`` prints for an endpoint with these checks (warnings found while building)."""
    built = await build_gateway(build_service(doc(host, [endpoint("/w", checks)])))
    try:
        return list(built.resources.warnings)
    finally:
        await built.close()


def endpoint_site(extra: dict[str, Any] | None = None) -> Site:
    ep = endpoint("/a", [], extra_config=extra or {})
    service = build_service({"version": 3, "host": ["http://127.0.0.1:10"], "endpoints": [ep]})
    return Site("endpoint", "endpoints[0].extra_config.validation/cel", service, service.endpoints[0])


async def test_cel_jwt_rejecter_raises_a_rejection() -> None:
    from krakenpy.cel import compile_phases

    phases = compile_phases([("p", "has(JWT.sub) && JWT.exp > 1000")], jwt=True)
    assert phases.jwt is not None
    reached: list[Request] = []

    async def next_proxy(request: Request) -> Response:
        reached.append(request)
        return Response(data={})

    guarded = cel.jwt_rejecter(phases.jwt, "[ENDPOINT: /me][CEL]")(next_proxy)
    request = Request(method="GET", path="/me", params={}, headers={}, query={})
    for verified in ({"sub": "x", "exp": 10}, {"exp": 2000}, None):
        request.claims = verified
        with pytest.raises(Rejection) as info:
            await guarded(request)
        assert (info.value.status, info.value.reason, info.value.policy) == (401, "cel_false", "validation/cel")
        assert info.value.payload == b""
    request.claims = {"sub": "x", "exp": 2000}
    await guarded(request)
    assert reached == [request]


async def test_cel_jwt_checks_without_validator_never_run(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    client = await gateway(doc(host, [endpoint("/open", ["'admin' in JWT.roles"])]))
    assert (await client.get("/open")).status == 200
    assert any("auth/validator" in w for w in await build_warnings(host, ["'admin' in JWT.roles"]))


def test_cel_parse_reports_syntax_errors_at_their_path() -> None:
    site = endpoint_site()
    raw = [{"check_expr": "req_method == 'GET'"}, {"check_expr": "req_method =="}, {"mod_expr": "x"}]
    with pytest.raises(ConfigError) as info:
        cel.parse(raw, site)
    assert [i.path for i in info.value.issues] == ["endpoints[0].extra_config.validation/cel[1].check_expr"]


async def test_cel_builders_return_none_when_nothing_runs_there() -> None:
    site = endpoint_site()
    resources = Resources(service=site.service, http=AiohttpClient(ClientOptions()), stack=AsyncExitStack())
    jwt_only = cel.parse([{"check_expr": "has(JWT.sub)"}], site)  # no validator: the JWT phase is off too
    assert await cel.build_proxy(jwt_only, site, resources) is None
    assert await cel.build_endpoint(jwt_only, site, resources) is None
    req = cel.parse([{"check_expr": "req_method == 'GET'"}], site)
    assert await cel.build_proxy(req, site, resources) is not None
    assert await cel.build_backend(req, site, resources) is None  # an endpoint value acts at the endpoint
    guarded = endpoint_site({"auth/validator": {}})
    assert await cel.build_endpoint(cel.parse([{"check_expr": "has(JWT.sub)"}], guarded), guarded, resources)
    await resources.http.close()
