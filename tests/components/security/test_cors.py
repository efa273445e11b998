"""``security/cors``: the component (parse, one edge middleware for every level) and the gateway end
to end: preflights for routed and unknown paths, CORS headers on 200/404/405 and on rejections."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from krakenpy.components.security.cors import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.cors import CorsOptions
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.components.helpers import json_app, site
from tests.conftest import ROOT, free_port, make_config

ORIGIN = "https://app.example.com"
VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
CORS = {
    "allow_origins": [ORIGIN],
    "allow_methods": ["GET", "POST"],
    "allow_headers": ["Authorization", "Content-Type"],
    "expose_headers": ["Content-Length"],
    "max_age": "12h",
}


def preflight(method: str = "GET", headers: str | None = None, origin: str = ORIGIN) -> dict[str, str]:
    out = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        out["Access-Control-Request-Headers"] = headers
    return out


def test_cors_parse_at_json_path() -> None:
    assert COMPONENT.parse({}, site("security/cors", "service")) == CorsOptions()
    with pytest.raises(ConfigError) as caught:
        COMPONENT.parse({"max_age": 12}, site("security/cors", "endpoint"))
    assert [i.path for i in caught.value.issues] == ["endpoints[0].extra_config.security/cors.max_age"]


def test_cors_component_levels_and_layers() -> None:
    assert COMPONENT.levels == {"service", "endpoint"} and COMPONENT.layers == ("edge",)


def _doc(host: str, endpoint_cors: dict[str, Any] | None = None, **service: Any) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = [
        {"endpoint": "/users/{id}", "backend": [{"host": [host], "url_pattern": "/u"}]},
        {"endpoint": "/users/{id}", "method": "POST", "backend": [{"host": [host], "url_pattern": "/u"}]},
        {
            "endpoint": "/admin",
            "backend": [{"host": [host], "url_pattern": "/a"}],
            **({"extra_config": {"security/cors": endpoint_cors}} if endpoint_cors is not None else {}),
        },
    ]
    return make_config(endpoints, **service)


async def test_cors_gateway_preflight_routed_and_unknown_paths(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), extra_config={"security/cors": CORS}))
    for path in ("/users/7", "/nowhere/at/all"):
        resp = await client.options(path, headers=preflight("POST", "content-type"))
        assert resp.status == 204
        assert await resp.read() == b""
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Access-Control-Allow-Methods"] == "POST"
        assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
        assert resp.headers["Access-Control-Max-Age"] == "43200"
        assert resp.headers["Vary"] == VARY_PREFLIGHT
        assert "X-Krakend" not in resp.headers and "Content-Type" not in resp.headers
    refused = await client.options("/users/7", headers=preflight("DELETE"))
    assert refused.status == 204 and "Access-Control-Allow-Origin" not in refused.headers  # never 403


async def test_cors_gateway_headers_on_every_answer(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), extra_config={"security/cors": CORS}))
    ok = await client.get("/users/7", headers={"Origin": ORIGIN})
    assert (ok.status, await ok.json()) == (200, {"a": 1})
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert ok.headers["Access-Control-Expose-Headers"] == "Content-Length"
    assert ok.headers.getall("Vary") == ["Origin"]
    assert ok.headers["X-Krakend-Completed"] == "true"
    missing = await client.get("/nope", headers={"Origin": ORIGIN})
    assert (missing.status, missing.headers["Access-Control-Allow-Origin"]) == (404, ORIGIN)
    # an allowed origin on a method CORS does not allow: the router answers, CORS adds only Vary
    not_allowed = await client.put("/users/7", headers={"Origin": ORIGIN})
    assert (not_allowed.status, not_allowed.headers.getall("Vary")) == (405, ["Origin"])
    assert "Access-Control-Allow-Origin" not in not_allowed.headers
    # OPTIONS without Access-Control-Request-Method is not a preflight: 405 (krakend-ce#545)
    plain_options = await client.options("/users/7", headers={"Origin": ORIGIN})
    assert (plain_options.status, plain_options.headers["Access-Control-Allow-Origin"]) == (405, ORIGIN)
    health = await client.get("/__health", headers={"Origin": ORIGIN})
    assert (health.status, health.headers["Access-Control-Allow-Origin"]) == (200, ORIGIN)
    no_origin = await client.get("/users/7")
    assert no_origin.headers.getall("Vary") == ["Origin"] and "Access-Control-Allow-Origin" not in no_origin.headers


async def test_cors_gateway_headers_on_rejections(backend, gateway, tmp_path: Path) -> None:
    host = await backend(json_app({"a": 1}))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}))
    validator = {"alg": "HS256", "jwk_local_path": str(jwks), "disable_jwk_security": True}
    lua_429 = {"pre": "exit(429, 'slow down')"}
    doc = make_config(
        [
            {
                "endpoint": "/bots",
                "backend": [{"host": [host], "url_pattern": "/"}],
                "extra_config": {"security/bot-detector": {"deny": ["BadBot/1"]}},
            },
            {
                "endpoint": "/limited",
                "backend": [{"host": [host], "url_pattern": "/"}],
                "extra_config": {"modifier/lua-endpoint": lua_429},
            },
            {
                "endpoint": "/private",
                "backend": [{"host": [host], "url_pattern": "/"}],
                "extra_config": {"auth/validator": validator},
            },
        ],
        extra_config={"security/cors": {"allow_origins": ["*"]}},
    )
    client = await gateway(doc)
    bot = await client.get("/bots", headers={"Origin": ORIGIN, "User-Agent": "BadBot/1"})
    assert (bot.status, await bot.read(), bot.headers["Access-Control-Allow-Origin"]) == (403, b"", "*")
    assert "X-Krakend" not in bot.headers
    limited = await client.get("/limited", headers={"Origin": ORIGIN})
    assert (limited.status, limited.headers["Access-Control-Allow-Origin"]) == (429, "*")
    assert limited.headers.getall("Vary") == ["Origin"]
    unauthorized = await client.get("/private", headers={"Origin": ORIGIN})  # the JWT validator: no token
    assert (unauthorized.status, await unauthorized.read()) == (401, b"")
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "*" and "X-Krakend" not in unauthorized.headers


async def test_cors_gateway_options_passthrough_reaches_the_router(backend, gateway) -> None:
    cfg = {**CORS, "options_passthrough": True}
    client = await gateway(_doc(await backend(json_app({"a": 1})), extra_config={"security/cors": cfg}))
    resp = await client.options("/users/7", headers=preflight())
    assert resp.status == 405  # no OPTIONS route: the router answers, with the CORS headers
    assert (resp.headers["Access-Control-Allow-Origin"], resp.headers["Vary"]) == (ORIGIN, VARY_PREFLIGHT)
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_cors_gateway_endpoint_value_overrides(backend, gateway) -> None:
    admin = {"allow_origins": ["https://admin.example.com"], "allow_credentials": True}
    client = await gateway(
        _doc(await backend(json_app({"a": 1})), endpoint_cors=admin, extra_config={"security/cors": CORS})
    )
    own = await client.options("/admin", headers=preflight(origin="https://admin.example.com"))
    assert own.headers["Access-Control-Allow-Origin"] == "https://admin.example.com"
    assert own.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Max-Age" not in own.headers  # replaced, not merged with the service value
    app_origin = await client.get("/admin", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in app_origin.headers
    elsewhere = await client.get("/users/1", headers={"Origin": "https://admin.example.com"})
    assert "Access-Control-Allow-Origin" not in elsewhere.headers


async def test_cors_gateway_endpoint_value_alone(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), endpoint_cors={"allow_origins": ["*"]}))
    own = await client.get("/admin", headers={"Origin": ORIGIN})
    assert own.headers["Access-Control-Allow-Origin"] == "*"
    other = await client.get("/users/1", headers={"Origin": ORIGIN})
    assert "Vary" not in other.headers and "Access-Control-Allow-Origin" not in other.headers


def _chain(handler: object, depth: int = 0) -> list[str]:
    """The qualified names of the functions an edge handler closes over, transitively."""
    names = [getattr(handler, "__qualname__", "")]
    for cell in getattr(handler, "__closure__", None) or ():
        inner = cell.cell_contents
        if callable(inner) and depth < 12:
            names.extend(_chain(inner, depth + 1))
    return names


#: per-request telemetry off: the default access log's edge handler is compiled code on a compiled build
#: (no ``__closure__`` to walk), and it would sit outside CORS
_QUIET = {"router": {"disable_access_log": True}, "telemetry/access_log": {"request_id_header": ""}}


async def test_cors_gateway_absent_costs_nothing(backend) -> None:
    host = await backend(json_app({"a": 1}))
    plain = await build_gateway(build_service(_doc(host, extra_config=dict(_QUIET))))
    with_cors = await build_gateway(build_service(_doc(host, extra_config={**_QUIET, "security/cors": {}})))
    try:
        # the walk starts on Python functions, so that "not found" means not built
        assert isinstance(plain.edge, types.FunctionType) and isinstance(with_cors.edge, types.FunctionType)
        assert not any(name.startswith("cors_middleware.") for name in _chain(plain.edge))  # not built at all
        assert any(name.startswith("cors_middleware.") for name in _chain(with_cors.edge))
    finally:
        await plain.close()
        await with_cors.close()


async def test_cors_gateway_warns_about_credentials_with_any_origin(backend) -> None:
    doc = _doc(
        await backend(json_app({})),
        endpoint_cors={"allow_credentials": True, "reflect_origin": True},
        extra_config={"security/cors": {"allow_credentials": True}},
    )
    gw = await build_gateway(build_service(doc))
    try:
        assert [w.split(":")[0] for w in gw.resources.warnings] == ["extra_config.security/cors"]
    finally:
        await gw.close()


def test_cors_cli_run_serves_preflights_and_check_names_bad_values(tmp_path: Path, dead_port: int) -> None:
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {
            "security/cors": {"allow_origins": [ORIGIN], "max_age": "1m"},
            "security/http": {"frame_deny": True},
            "security/bot-detector": {"deny": ["BadBot/1"]},
        },
        "endpoints": [{"endpoint": "/a", "backend": [{"host": [f"127.0.0.1:{dead_port}"], "url_pattern": "/"}]}],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/anything", method="OPTIONS", headers=preflight())
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    status, headers = resp.status, resp.headers
                break
            except OSError:
                assert time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.05)
        assert (status, headers["Access-Control-Allow-Origin"], headers["Access-Control-Max-Age"]) == (
            204,
            ORIGIN,
            "60",
        )
        bot = urllib.request.Request(f"http://127.0.0.1:{port}/a", headers={"User-Agent": "BadBot/1", "Origin": ORIGIN})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bot, timeout=5)
        with refused.value as error:  # an HTTPError holds the connection open until closed
            assert error.code == 403
            assert error.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert error.headers["X-Frame-Options"] == "DENY"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()

    doc["extra_config"]["security/cors"] = {"max_age": 60}
    path.write_text(json.dumps(doc))
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 1 and "extra_config.security/cors.max_age" in out.stderr


async def test_cors_gateway_bad_bytes_never_crash(backend, gateway) -> None:
    """Raw requests with bytes that are not UTF-8, huge header lists and odd values: every edge
    component answers as usual (no 500), and the connection is served to the end."""
    doc = _doc(
        await backend(json_app({"a": 1})),
        extra_config={
            "security/cors": CORS,
            "security/http": {"allowed_hosts": ["api.example.com"], "frame_deny": True},
            "security/bot-detector": {"patterns": ["(?i)bot\\b"], "cache_size": 10},
        },
    )
    client = await gateway(doc)
    huge = ",".join(f"x-h{i}" for i in range(1000)).encode()  # ~7 KB, under aiohttp's 8 KiB field limit
    cases = [
        (b"GET /users/7", [b"Origin: https://\xff\xfe.example.com", b"User-Agent: \xc3\x28 browser"], b"200"),
        (b"GET /users/7", [b"Origin: " + ORIGIN.encode(), b"User-Agent: evil\xffbot"], b"403"),
        (
            b"OPTIONS /x",
            [
                b"Origin: " + ORIGIN.encode(),
                b"Access-Control-Request-Method: GET",
                b"Access-Control-Request-Headers: " + huge,
            ],
            b"204",
        ),
        (
            b"OPTIONS /x",
            [
                b"Origin: \xe2\x82\xac",
                b"Access-Control-Request-Method: G\xc3\xa9T",
                b"Access-Control-Request-Headers: \xff,\xfe",
            ],
            b"204",
        ),
        (b"GET /users/7", [b"Origin: null, null", b"User-Agent: " + b"a" * 6000], b"200"),
    ]
    for line, headers, status in cases:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        head = line + b" HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n" + b"\r\n".join(headers)
        writer.write(head + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        await writer.wait_closed()
        assert answer.split(b" ", 2)[1] == status, answer[:200]
