"""qos/ratelimit/router: 429 client limit outside, 503 global limit inside, KrakenD's key rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.qos.ratelimit.router import COMPONENT
from krakenpy.errors import Rejection
from krakenpy.proxy.compose import compose
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.keys import key_extractor
from krakenpy.ratelimit.options import parse_router_limit
from krakenpy.ratelimit.router import router_limit_middleware
from tests.components.helpers import json_app
from tests.components.qos.helpers import build
from tests.conftest import ROOT, make_config
from tests.doubles import static_proxy
from tests.ratelimit.clock import FakeClock


def _request(ip: str = "192.0.2.1", headers: dict[str, list[str]] | None = None, **params: str) -> Request:
    return Request(method="GET", path="/x", params=params, headers=headers or {}, query={}, client_ip=ip)


def _limited(raw: dict[str, object], clock: FakeClock) -> tuple[Proxy, static_proxy]:
    options = parse_router_limit(raw)
    mw = router_limit_middleware(options, key_extractor(options.strategy, options.key), clock=clock)
    assert mw is not None
    backend = static_proxy({"ok": True})
    return mw(backend), backend


async def _statuses(proxy: Proxy, requests: list[Request]) -> list[int]:
    out = []
    for request in requests:
        try:
            await proxy(request)
            out.append(200)
        except Rejection as exc:
            out.append(exc.status)
    return out


async def test_router_client_limit_429_per_ip() -> None:
    clock = FakeClock()
    proxy, backend = _limited({"client_max_rate": 2, "client_capacity": 2, "strategy": "ip"}, clock)
    a = [_request("192.0.2.1") for _ in range(3)]
    assert await _statuses(proxy, a) == [200, 200, 429]
    assert await _statuses(proxy, [_request("192.0.2.2")]) == [200]  # another client, its own bucket
    assert len(backend.calls) == 3
    clock.advance(0.5)
    assert await _statuses(proxy, [_request("192.0.2.1")]) == [200]


async def test_router_global_limit_503_and_client_checked_first() -> None:
    clock = FakeClock()
    raw = {"max_rate": 2, "client_max_rate": 1, "client_capacity": 1, "strategy": "header", "key": "x-user"}
    proxy, backend = _limited(raw, clock)
    users = [_request(headers={"X-User": [u]}) for u in ("a", "a", "b", "c")]
    # a: ok; a again: 429 (does not consume the global bucket); b: ok; c: global bucket empty -> 503
    assert await _statuses(proxy, users) == [200, 429, 200, 503]
    assert len(backend.calls) == 2


async def test_router_rejection_is_empty_and_headerless_by_default() -> None:
    proxy, _ = _limited({"max_rate": 1}, FakeClock())
    await proxy(_request())
    with pytest.raises(Rejection) as info:
        await proxy(_request())
    assert info.value.status == 503
    assert info.value.reason == "rate_limited"
    assert info.value.policy == "qos/ratelimit/router"
    assert info.value.payload == b"" and info.value.headers == ()


async def test_router_rate_limit_headers_option() -> None:
    clock = FakeClock()
    raw = {"client_max_rate": 10, "client_capacity": 1, "every": "1m", "strategy": "ip", "rate_limit_headers": True}
    proxy, _ = _limited(raw, clock)
    await proxy(_request())
    clock.advance(1)
    with pytest.raises(Rejection) as info:
        await proxy(_request())
    headers = dict(info.value.headers)
    assert headers["RateLimit-Policy"] == '"client";q=10;w=60'
    assert headers["Retry-After"] == "5"  # a token every 6 s, 1 s already elapsed
    assert headers["RateLimit"] == '"client";r=0;t=5'


@pytest.mark.parametrize(
    ("raw", "request_"),
    [
        ({"strategy": "header", "key": "X-User"}, _request()),
        ({"strategy": "param", "key": "id"}, _request()),
        ({"strategy": "header", "key": "X-User"}, _request(headers={"X-User": [""]})),
        ({"strategy": "jwt", "key": "sub"}, _request()),
        ({"strategy": "ip"}, _request(ip="")),
    ],
)
async def test_router_missing_or_empty_key_is_429(raw: dict[str, object], request_: Request) -> None:
    proxy, backend = _limited({"client_max_rate": 100, **raw}, FakeClock())
    assert await _statuses(proxy, [request_]) == [429]
    assert backend.calls == []


async def test_router_param_and_ip_key_strategies() -> None:
    clock = FakeClock()
    proxy, _ = _limited({"client_max_rate": 1, "client_capacity": 1, "strategy": "PARAM", "key": "id"}, clock)
    assert await _statuses(proxy, [_request(Id="1"), _request(Id="1"), _request(Id="2")]) == [200, 429, 200]
    proxy, _ = _limited({"client_max_rate": 1, "client_capacity": 1, "strategy": "ip", "key": "X-Real"}, clock)
    via = {"X-Real": ["203.0.113.9:443, 10.0.0.1"]}
    assert await _statuses(proxy, [_request("1.1.1.1", via), _request("2.2.2.2", via)]) == [200, 429]
    ipv6 = {"X-Real": ["2001:db8::1"]}  # KrakenD cuts at ':', so IPv6 falls back to the client IP
    assert await _statuses(proxy, [_request("3.3.3.3", ipv6), _request("3.3.3.3")]) == [200, 429]


def _claims(sub: object) -> Middleware:
    """A stand-in for the JWT validator, which runs before the rate limit and sets request.claims."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def verified(request: Request) -> Response:
            request.claims = {"sub": sub} if sub is not None else {}
            return await next_proxy(request)

        return verified

    return middleware


async def test_router_jwt_strategy_limits_per_claim() -> None:
    clock = FakeClock()
    options = parse_router_limit({"client_max_rate": 1, "client_capacity": 1, "strategy": "jwt", "key": "sub"})
    limit = router_limit_middleware(options, key_extractor("jwt", "sub"), clock=clock)
    backend = static_proxy({})
    alice = compose(backend, _claims("alice"), limit)
    bob = compose(backend, _claims(42), limit)
    nobody = compose(backend, _claims(None), limit)
    same_ip = "192.0.2.1"
    assert await _statuses(alice, [_request(same_ip), _request(same_ip)]) == [200, 429]
    assert await _statuses(bob, [_request(same_ip)]) == [200]  # same IP, another subject
    assert await _statuses(nobody, [_request(same_ip)]) == [429]


async def test_router_component_builds_none_without_limits() -> None:
    mw, _ = await build(COMPONENT, "endpoint", {"every": "1m"})
    assert mw is None


async def test_router_component_unknown_strategy_warns_and_keeps_global() -> None:
    mw, resources = await build(COMPONENT, "endpoint", {"max_rate": 1, "client_max_rate": 1, "strategy": "cookie"})
    assert mw is not None
    assert any("unknown strategy" in w for w in resources.warnings)
    proxy = mw(static_proxy({}))
    assert await _statuses(proxy, [_request(), _request()]) == [200, 503]


async def test_router_component_param_not_in_endpoint_warns() -> None:
    _, resources = await build(COMPONENT, "endpoint", {"client_max_rate": 1, "strategy": "param", "key": "user"})
    assert any("no parameter 'user'" in w for w in resources.warnings)


def _limited_doc(host: str, limit: dict[str, object], **service: object) -> dict[str, object]:
    endpoint = {
        "endpoint": "/r/{id}",
        "backend": [{"host": [host], "url_pattern": "/"}],
        "extra_config": {"qos/ratelimit/router": limit},
    }
    return make_config([endpoint], **service)


async def test_router_through_gateway_rejections_are_bare(backend: Any, gateway: Any) -> None:
    seen: list[web.Request] = []
    host = await backend(json_app({"ok": True}, seen=seen))
    limit = {
        "max_rate": 2,
        "capacity": 2,
        "client_max_rate": 1,
        "client_capacity": 1,
        "strategy": "header",
        "key": "X-Key",
    }
    client = await gateway(_limited_doc(host, limit))
    assert (await client.get("/r/1", headers={"X-Key": "a"})).status == 200
    for headers, status in (({"X-Key": "a"}, 429), ({}, 429), ({"X-Key": "b"}, 200), ({"X-Key": "c"}, 503)):
        response = await client.get("/r/1", headers=headers)
        assert response.status == status
        if status != 200:
            assert await response.read() == b""
            assert "X-Krakend" not in response.headers and "Retry-After" not in response.headers
    assert len(seen) == 2


async def test_router_through_gateway_spoofed_forwarded_for(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    limit = {"client_max_rate": 1, "client_capacity": 1, "strategy": "ip"}
    # KrakenD's defaults trust every peer: each forged X-Forwarded-For is a new client
    open_doc = _limited_doc(host, limit)
    client = await gateway(open_doc)
    statuses = [(await client.get("/r/1", headers={"X-Forwarded-For": f"6.6.6.{i}"})).status for i in range(3)]
    assert statuses == [200, 200, 200]
    # trusting only the real proxy range: the test client (127.0.0.1) is not a proxy, its header is ignored
    closed = _limited_doc(host, limit, extra_config={"router": {"trusted_proxies": ["10.0.0.0/8"]}})
    client = await gateway(closed)
    statuses = [(await client.get("/r/1", headers={"X-Forwarded-For": f"6.6.6.{i}"})).status for i in range(3)]
    assert statuses == [200, 429, 429]
    # behind a trusted proxy (here: the loopback), the forged left part is skipped, the real client counted
    proxied = _limited_doc(host, limit, extra_config={"router": {"trusted_proxies": ["127.0.0.1"]}})
    client = await gateway(proxied)
    forged = [f"6.6.6.{i}, 203.0.113.7" for i in range(3)]
    statuses = [(await client.get("/r/1", headers={"X-Forwarded-For": xff})).status for xff in forged]
    assert statuses == [200, 429, 429]


async def test_router_through_gateway_param_strategy_and_headers(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    limit = {
        "client_max_rate": 1,
        "client_capacity": 1,
        "strategy": "param",
        "key": "id",
        "every": "1m",
        "rate_limit_headers": True,
    }
    client = await gateway(_limited_doc(host, limit))
    assert (await client.get("/r/1")).status == 200
    assert (await client.get("/r/2")).status == 200
    response = await client.get("/r/1")
    assert response.status == 429
    assert response.headers["RateLimit-Policy"] == '"client";q=1;w=60'
    assert int(response.headers["Retry-After"]) in range(59, 61)


def test_router_cli_check_and_run_accept_rate_limited_configs(tmp_path: Path) -> None:
    doc = _limited_doc("http://127.0.0.1:8080", {"max_rate": 10, "client_max_rate": 1, "strategy": "ip"})
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "refused" not in out.stderr and "qos/ratelimit" not in out.stderr
