"""A secret in the path (``/reset/{token}``): masked in every output, on each edge layer the
configuration picks (lean, metered, traced, general), in the backend's URL and in failure texts."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.pathmask import path_masks
from krakenpy.telemetry.redact import RedactionOptions, Redactor
from tests.cli_gateway import check_config, gateway_process
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import free_port
from tests.telemetry.test_canary import _Collect

SECRET = "p4th-s3cr3t-91c2"


def test_masks_follow_the_matched_route() -> None:
    masks = path_masks(["/reset/{token}", "/users/{id}", "/a/{Api_Key}/b/{TOKEN}"], ["token", "api_key"], (), "[X]", 4)
    assert masks is not None
    assert masks.mask("/reset/{token}", "/reset/abcd", "/reset/abcd") == "/reset/[X]"
    assert masks.mask("/a/{Api_Key}/b/{TOKEN}", "/a/k/b/t", "/a/k/b/t") == "/a/[X]/b/[X]"
    assert masks.mask("/users/{id}", "/users/7", "/users/7") == "/users/7"
    # no route (an edge guard's answer, a 405): the path's shape; a path of no sensitive shape as it is
    assert masks.mask(None, "/reset/abcd", "/reset/abcd") == "/reset/[X]"
    assert masks.mask(None, "/reset/abcd/more", "/reset/abcd/more") == "/reset/[X]/[X]"  # a value with %2F
    assert masks.mask(None, "/other/abcd/more", "/other/abcd/more") == "/other/abcd/more"
    # a path rewritten before routing: the routed value masked where the client's path holds it
    assert masks.mask("/reset/{token}", "/reset/abcd", "/old/abcd/x") == "/old/[X]/x"
    # literal values by the path's shape, decoded and encoded; too short ones left to the route's mask
    assert set(masks.values("/reset/ab cd")) == {"ab cd", "ab%20cd"}
    assert masks.values("/reset/abc") == () and masks.values("/users/12345") == () and masks.values("/x") == ()
    assert path_masks(["/users/{id}", "/x"], ["token"], ("token",), "[X]", 4) is None  # nothing to mask: no cost


def test_defaults_configured_names_and_replace_defaults() -> None:
    templates = ["/reset/{token}", "/files/{otp}", "/countries/{code}"]
    plain = Redactor()
    plain.learn_routes(templates)
    assert plain.paths is not None and set(plain.paths.by_route) == {"/reset/{token}"}  # {code} is no secret
    # the defaults are name endings, as real configurations spell them (the public corpus has
    # /user/login/{email}/{password} and a Plaid {publicToken}); ids and plain keys are not secrets
    sensitive = ["/a/{access_token}", "/b/{publicToken}", "/c/{user-password}", "/d/{clientSecret}", "/e/{apiKey}"]
    ordinary = ["/f/{tokenId}", "/g/{key}", "/h/{email}", "/i/{passwordHash}", "/j/{secretary}"]
    endings = Redactor()
    endings.learn_routes(sensitive + ordinary)
    assert endings.paths is not None and set(endings.paths.by_route) == set(sensitive)
    more = Redactor(RedactionOptions(path_params=("OTP",)))
    more.learn_routes(templates)
    assert more.paths is not None and set(more.paths.by_route) == {"/reset/{token}", "/files/{otp}"}
    only = Redactor(RedactionOptions(path_params=("otp",), replace_defaults=True))
    only.learn_routes(templates)
    assert only.paths is not None and set(only.paths.by_route) == {"/files/{otp}"}
    assert only.route_target("/files/{otp}", "/files/1234", "/files/1234", "a=1") == "/files/[REDACTED]?a=1"
    secrets = plain.request_secrets([], "", "/reset/abcdef")
    failure = 'Get "http://h/v1/reset/abcdef": refused'
    assert plain.text(failure, secrets) == 'Get "http://h/v1/reset/[REDACTED]": refused'


def _layers(kind: str, receiver_port: int, gelf_port: int, access_file: Path, audit_file: Path) -> dict[str, Any]:
    otel = {
        "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]},
        "layers": {"backend": {"traces": {"round_trip": True}}},
    }
    if kind == "lean":
        return {}
    if kind == "metered":
        return {"telemetry/metrics": {"collection_time": "60s", "listen_address": "127.0.0.1:0"}}
    if kind == "traced":
        return {"telemetry/opentelemetry": otel}
    return {  # the general handler: every output on
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/gelf": {"address": f"127.0.0.1:{gelf_port}", "enable_tcp": False},
        "telemetry/access_log": {"format": "json", "file": str(access_file)},
        "telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True},
        "telemetry/opentelemetry": otel,
        "security/bot-detector": {"deny": ["evil-bot/1.0"]},  # an edge guard: answers before routing
    }


@pytest.mark.parametrize("kind", ["lean", "metered", "traced", "general"])
async def test_a_path_secret_reaches_no_output(  # type: ignore[no-untyped-def]
    kind: str, served, upstream, capfd, tmp_path: Path, dead_port: int
) -> None:
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    seen: list[web.Request] = []
    ok = await upstream(recording_app(seen, {"ok": True}))
    access_file, audit_file = tmp_path / "access.log", tmp_path / "audit.log"
    extra = _layers(kind, receiver_port, gelf_transport.get_extra_info("sockname")[1], access_file, audit_file)
    s = await served(
        {
            "version": 3,
            "extra_config": {"router": {"return_error_msg": True}, **extra},
            "endpoints": [
                {"endpoint": "/reset/{token}", "backend": [{"host": [ok], "url_pattern": "/v1/reset/{token}"}]},
                {
                    "endpoint": "/down/{token}",
                    "backend": [{"host": [f"http://127.0.0.1:{dead_port}"], "url_pattern": "/d/{token}"}],
                },
                {"endpoint": "/users/{id}", "backend": [{"host": [ok], "url_pattern": "/u/{id}"}]},
                {
                    "endpoint": "/guarded/{token}",
                    "extra_config": {"validation/cel": [{"check_expr": "req_method == 'POST'"}]},
                    "backend": [{"host": [ok], "url_pattern": "/g"}],
                },
            ],
        }
    )
    statuses = []
    error_bodies = []
    asks = [
        ("GET", f"/reset/{SECRET}", {}),
        ("GET", f"/reset/{SECRET}?page=2", {}),
        ("GET", f"/down/{SECRET}", {}),
        ("GET", "/users/kept-id-77", {}),
        ("POST", f"/reset/{SECRET}", {}),  # no route for the method (405): masked by the path's shape
        ("GET", f"/guarded/{SECRET}", {}),  # an endpoint guard's deny
        ("GET", f"/reset/{SECRET}", {"User-Agent": "evil-bot/1.0"}),  # the edge guard's (general only)
    ]
    for method, path, headers in asks:
        resp = await s.client.request(method, path, headers=headers)
        statuses.append(resp.status)
        if resp.status >= 400:
            error_bodies.append(await resp.read())
    bot = 403 if kind == "general" else 200
    assert statuses == [200, 200, 500, 200, 405, 500, bot]
    # the backend got the real value: only what is written about the request is masked
    assert [r.path for r in seen][:3] == [f"/v1/reset/{SECRET}", f"/v1/reset/{SECRET}", "/u/kept-id-77"]
    exporter = s.gateway.resources.state.get(EXPORTER)
    if exporter is not None:
        await exporter.flush()
    for _ in range(50):
        if kind != "general" or gelf.data:
            break
        await asyncio.sleep(0.01)
    for handler in logging.getLogger("krakenpy").handlers:
        handler.flush()
    await s.gateway.close()
    gelf_transport.close()
    captured = capfd.readouterr()
    outputs = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "access file": access_file.read_bytes() if access_file.exists() else b"",
        "audit file": audit_file.read_bytes() if audit_file.exists() else b"",
        "gelf": b"\n".join(gelf.data),
        "otlp": b"\n".join(receiver.bodies),
        "error bodies": b"\n".join(error_bodies),
    }
    access = outputs["access file"] if kind == "general" else outputs["stdout"]
    # each output was written: the masked path, the other route's id kept, the failure's text
    assert access.count(b"/reset/[REDACTED]") == 4 and b"/reset/[REDACTED]?page=2" in access
    assert b"/down/[REDACTED]" in access and b"/users/kept-id-77" in access and b"/guarded/[REDACTED]" in access
    assert b"/d/[REDACTED]" in outputs["error bodies"] and b"connection refused" in outputs["error bodies"]
    if kind in ("traced", "general"):
        assert b"/reset/[REDACTED]" in outputs["otlp"] and b"/v1/reset/[REDACTED]" in outputs["otlp"]
        assert b"/u/kept-id-77" in outputs["otlp"]
    if kind == "general":
        audit = outputs["audit file"]
        assert b'"path":"/guarded/[REDACTED]"' in audit and b'"path":"/reset/[REDACTED]"' in audit and outputs["gelf"]
        assert b"/d/[REDACTED]" in outputs["stdout"]  # the failure line
    leaks = {name: data.count(SECRET.encode()) for name, data in outputs.items() if SECRET.encode() in data}
    for name, data in outputs.items():
        i = data.find(SECRET.encode())
        while i >= 0:
            print("LEAK", name, data[max(0, i - 120) : i + 40])
            i = data.find(SECRET.encode(), i + 1)
    assert leaks == {}


def _check(tmp_path: Path, redact: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    doc = {
        "version": 3,
        "extra_config": {"telemetry/access_log": {"redact": redact}},
        "endpoints": [
            {"endpoint": "/files/{otp}", "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/f"}]}
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(doc))
    return check_config(config, *args)


def test_check_names_a_parameter_no_endpoint_has(tmp_path: Path) -> None:
    done = _check(tmp_path, {"path_params": ["OTP", "tokn"]})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "extra_config.telemetry/access_log.redact.path_params[1]: no endpoint has a {tokn} parameter" in out
    assert "path_params[0]" not in out  # {otp} is there (names in any case)
    assert _check(tmp_path, {"path_params": ["tokn"]}, "--lint").returncode == 1
    braced = _check(tmp_path, {"path_params": ["{otp}"]})
    assert braced.returncode == 1 and "redact.path_params[0]" in braced.stdout + braced.stderr


async def test_a_backend_failure_quoting_a_credential_is_masked_on_the_spans(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Span status messages are texts about the request too: a backend-level failure quoting the
    request's credential (a script's error with a header that has no scheme) is masked there."""
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    script = "local r = request.load(); error('bad key ' .. r:headers('X-Api-Key'))"
    otel = {
        "exporters": {"otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]},
        "layers": {"backend": {"traces": {"round_trip": True}}},
    }
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/opentelemetry": otel},
            "endpoints": [
                {
                    "endpoint": "/x",
                    "input_headers": ["X-Api-Key"],
                    "backend": [
                        {"host": [ok], "url_pattern": "/o", "extra_config": {"modifier/lua-backend": {"pre": script}}}
                    ],
                }
            ],
        }
    )
    resp = await s.client.get("/x", headers={"X-Api-Key": SECRET})
    assert resp.status == 500
    await s.gateway.resources.state[EXPORTER].flush()
    otlp = b"\n".join(receiver.bodies)
    assert b"bad key [REDACTED]" in otlp
    assert SECRET.encode() not in otlp


async def test_the_real_server_masks_a_path_secret(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    """``krakenpy run`` in a subprocess (the worker's own server, the compiled edge when built): the
    access log file holds the route's mask, the backend the value."""
    seen: list[web.Request] = []
    ok = await upstream(recording_app(seen, {"ok": True}))
    port = free_port()
    access = tmp_path / "access.log"
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/access_log": {"stdout": False, "file": str(access)}},
        "endpoints": [{"endpoint": "/reset/{token}", "backend": [{"host": [ok], "url_pattern": "/v1/{token}"}]}],
    }
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(doc))
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/reset/{SECRET}?a=1") as resp:
                assert resp.status == 200
    assert [r.path for r in seen] == [f"/v1/{SECRET}"]
    logged = access.read_bytes()
    assert b'GET      "/reset/[REDACTED]?a=1"' in logged
    assert SECRET.encode() not in logged
