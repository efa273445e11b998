"""``security/policies`` through the real gateway, a loopback backend, the real JWT validator and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError, Rejection
from krakenpy.gateway import build_gateway
from krakenpy.jose import sources as sources_module
from krakenpy.policies.engine import compile_section
from krakenpy.proxy.types import Request, Response
from krakenpy.telemetry.audit import verify_chain
from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port
from tests.jose.helpers import JwksServer, claims, mint, rsa_key

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]
HITS = web.AppKey("hits", list)
ROOT = Path(__file__).resolve().parents[3]
NS = "security/policies"


def backend_app(label: str = "BENIGN") -> web.Application:
    """Answers ``{"label": ...}`` and records the paths that reached it."""

    async def answer(request: web.Request) -> web.Response:
        request.app[HITS].append(request.path)
        return web.json_response({"label": request.query.get("label", label), "path": request.path})

    app = web.Application()
    app[HITS] = []
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def doc(host: str, policies: dict[str, Any], **endpoint: Any) -> dict[str, Any]:
    ep: dict[str, Any] = {"endpoint": "/p", "backend": [{"url_pattern": "/b"}], "extra_config": {NS: policies}}
    ep.update(endpoint)
    return {"version": 3, "host": [host], "timeout": "2s", "endpoints": [ep]}


async def test_policies_request_cookie_with_custom_error(backend: Start, gateway: Gateway) -> None:
    # corpus 002's /track-user: a GDPR cookie or a 403 with the configured text
    app = backend_app()
    policies = {
        "req": {
            "policies": ["getCookie('GDPR') == 'yes'"],
            "error": {"body": "User did not accept the cookie", "status": 403},
        }
    }
    client = await gateway(doc(await backend(app), policies, input_headers=["Cookie"]))
    ok = await client.get("/p", headers={"Cookie": "a=1; GDPR=yes"})
    assert ok.status == 200
    for cookie in ("GDPR=no", "a=1", "GDPRx=yes", ""):
        denied = await client.get("/p", headers={"Cookie": cookie} if cookie else {})
        assert denied.status == 403, cookie
        assert await denied.text() == "User did not accept the cookie"
        assert denied.headers["Content-Type"] == "text/plain"
        assert "X-Krakend" not in denied.headers
    assert app[HITS] == ["/b"]  # denied requests never reached the backend


async def test_policies_response_policy_with_json_error(backend: Start, gateway: Gateway) -> None:
    # corpus 002's guardrail: the merged response must be labelled BENIGN
    app = backend_app()
    body = '{"error":"Prompt blocked"}'
    policies = {
        "resp": {
            "policies": ["resp_data.label == 'BENIGN'"],
            "error": {"body": body, "status": 403, "content_type": "application/json"},
        }
    }
    client = await gateway(doc(await backend(app), policies, input_query_strings=["label"]))
    ok = await client.get("/p")
    assert ok.status == 200
    assert (await ok.json())["label"] == "BENIGN"
    denied = await client.get("/p?label=INJECTION")
    assert denied.status == 403
    assert await denied.json() == {"error": "Prompt blocked"}
    assert denied.headers["Content-Type"] == "application/json"
    assert len(app[HITS]) == 2  # the response policy runs after the backend


async def test_policies_default_error_and_evaluation_error_deny(backend: Start, gateway: Gateway) -> None:
    host = await backend(backend_app())
    client = await gateway(doc(host, {"resp": {"policies": ["resp_data.missing.deep == 'x'"]}}))
    denied = await client.get("/p")  # a missing key is an evaluation error: deny, never a 500 traceback
    assert denied.status == 500
    assert await denied.read() == b""
    client = await gateway(doc(host, {"req": {"policies": ["req_method == 'POST'"]}}))
    assert (await client.get("/p")).status == 500


async def test_policies_macros_headers_query_between(backend: Start, gateway: Gateway) -> None:
    policies = {
        "req": {
            "policies": [
                "hasHeader('x-tenant') && getHeader('X-TENANT') == 'acme'",
                "!hasQuerystring('debug') && getQuerystring('n') != '' && int(getQuerystring('n')).between(1, 10)",
                "between(2.0, 1.5, 2.0)",
            ],
            "error": {"status": 400},
        }
    }
    ep = {"input_headers": ["X-Tenant"], "input_query_strings": ["n", "debug"]}
    client = await gateway(doc(await backend(backend_app()), policies, **ep))
    good = {"X-Tenant": "acme"}
    assert (await client.get("/p?n=3", headers=good)).status == 200
    for query, headers in (("n=3", {}), ("n=11", good), ("n=3&debug=1", good), ("", good), ("n=x", good)):
        assert (await client.get(f"/p?{query}", headers=headers)).status == 400, (query, headers)


async def test_policies_jwt_with_validator(backend: Start, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_module, "REFETCH_WAIT", 30.0)  # no race with the first key download
    app = backend_app()
    host = await backend(app)
    jwks = JwksServer(keys=[rsa_key("k1")])
    jwks.url = await backend(jwks.app()) + "/jwks"
    validator = {"alg": "RS256", "jwk_url": jwks.url, "disable_jwk_security": True}
    policies = {"jwt": {"policies": ["JWT.role in ['admin', 'root']", "has(JWT.department) && JWT.department == 'IT'"]}}
    ep = doc(host, policies)
    ep["endpoints"][0]["extra_config"]["auth/validator"] = validator
    client = await gateway(ep)

    def bearer(**extra: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint(rsa_key("k1"), claims(**extra), alg="RS256")}

    assert (await client.get("/p", headers=bearer(role="admin", department="IT"))).status == 200
    for headers in (bearer(role="user", department="IT"), bearer(role="root"), {}):
        denied = await client.get("/p", headers=headers)
        assert denied.status == 401
        assert await denied.read() == b""
    assert app[HITS] == ["/b"]


async def test_policies_jwt_without_validator_is_a_warning(backend: Start) -> None:
    built = await build_gateway(build_service(doc(await backend(backend_app()), {"jwt": {"policies": ["true"]}})))
    try:
        assert any(
            "security/policies.jwt: never evaluated without auth/validator" in w for w in built.resources.warnings
        )
    finally:
        await built.close()


async def test_policies_backend_level_fails_that_backend(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    host = await backend(app)
    config = {
        "version": 3,
        "host": [host],
        "endpoints": [
            {
                "endpoint": "/p",
                "backend": [
                    {"url_pattern": "/one", "group": "one"},
                    {
                        "url_pattern": "/two",
                        "group": "two",
                        "extra_config": {NS: {"req": {"policies": ["req_path == '/x'"]}}},
                    },
                ],
            }
        ],
    }
    client = await gateway(config)
    resp = await client.get("/p")
    assert resp.status == 200
    assert resp.headers["X-Krakend-Completed"] == "false"
    assert set(await resp.json()) == {"one"}
    assert app[HITS] == ["/one"]


def _request(**more: Any) -> Request:
    base: dict[str, Any] = {"method": "GET", "path": "/p", "params": {}, "headers": {}, "query": {}}
    base.update(more)
    return Request(**base)


def test_policies_cookie_macro_follows_go_parsing() -> None:
    section = compile_section(
        [("p", "getCookie('s') == 'a b' && hasCookie('e') && !hasCookie('x')")], "req", macros=True, auto_join=False
    )
    assert section is not None
    ok = _request(headers={"Cookie": ['t=1; s="a b"', "e="]})
    assert section.first_failure(ok, ok, "") is None
    no = _request(headers={"Cookie": ["s=a b; x=1; e=2"]})
    assert section.first_failure(no, no, "") == (0, "result is false")


@pytest.mark.parametrize(
    "cookie",
    [
        "role=x\\y; role=blocked",  # Go skips a value it refuses: the next role counts
        "role =blocked",  # Go trims the name
        "debug",  # Go counts a part without "=" as a cookie with an empty value
    ],
)
def test_policies_cookie_macro_reads_what_go_reads(cookie: str) -> None:
    section = compile_section(
        [("p", "getCookie('role') != 'blocked' && !hasCookie('debug')")], "req", macros=True, auto_join=False
    )
    assert section is not None
    request = _request(headers={"Cookie": [cookie]})
    assert section.first_failure(request, request, "") == (0, "result is false")


def test_policies_evaluation_error_names_no_value() -> None:
    section = compile_section([("p", "{'key-a': true}[getHeader('X-Api-Key')]")], "req", macros=True, auto_join=False)
    assert section is not None
    request = _request(headers={"X-Api-Key": ["SUPERSECRETKEY"]})
    failure = section.first_failure(request, request, "")
    assert failure is not None and failure[1].startswith("evaluation error")
    assert "SUPERSECRETKEY" not in failure[1]


def test_policies_trailing_comment_compiles() -> None:
    for auto_join in (False, True):
        pairs = [("a", "req_method == 'GET' // only GET"), ("b", "req_path == '/p' // and /p")]
        section = compile_section(pairs, "req", macros=False, auto_join=auto_join)
        assert section is not None
        ok, no = _request(), _request(method="POST")
        assert section.first_failure(ok, ok, "") is None
        assert section.first_failure(no, no, "") is not None


def test_policies_auto_join_gives_the_same_outcome() -> None:
    pairs = [("a", "req_method == 'GET'"), ("b", "req_path == '/p'")]
    joined = compile_section(pairs, "req", macros=False, auto_join=True)
    apart = compile_section(pairs, "req", macros=False, auto_join=False)
    assert joined is not None and apart is not None
    assert len(joined.programs) == 1
    for request in (_request(), _request(method="POST"), _request(path="/q")):
        assert (joined.first_failure(request, request, "") is None) == (
            apart.first_failure(request, request, "") is None
        )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("req_method ==", "policy syntax error"),
        ("geoIP('1.2.3.4') == 'ES'", "unknown function, macro or variable 'geoIP'"),
        ("resp_data.a == 1", "'resp_data' is not available in req policies"),
        ("1 + 2", "a policy must give a boolean"),
        ("getCookie(1) == 'a'", "no matching overload"),
    ],
)
def test_policies_compile_errors_name_the_policy(policy: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_section([("ep.req.policies[3]", policy)], "req", macros=True, auto_join=False)
    [issue] = info.value.issues
    assert issue.path == "ep.req.policies[3]"
    assert message in issue.message


def test_policies_disable_macros_makes_a_macro_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        compile_section([("p", "getCookie('GDPR') == 'yes'")], "req", macros=False, auto_join=False)
    assert "advanced macro 'getCookie' used while disable_macros is true" in info.value.issues[0].message
    assert compile_section([("p", "req_method == 'GET'")], "req", macros=False, auto_join=False) is not None


async def test_policies_jwt_middleware_reasons() -> None:
    from krakenpy.components.security.policies import jwt_middleware

    section = compile_section([("p", "JWT.exp > 1000.0")], "jwt", macros=True, auto_join=False)
    assert section is not None

    async def next_proxy(request: Request) -> Response:
        return Response(data={})

    guarded = jwt_middleware(section, "[ENDPOINT: /p][POLICIES]", debug=True)(next_proxy)
    request = _request()
    for verified, reason in (({"exp": 10}, "cel_false"), ({"sub": "x"}, "policy_error"), (None, "no_credentials")):
        request.claims = verified
        with pytest.raises(Rejection) as info:
            await guarded(request)
        assert (info.value.status, info.value.reason, info.value.policy) == (401, reason, NS)
    request.claims = {"exp": 2000}
    assert (await guarded(request)).data == {}


def test_policies_cli_check_refuses_bad_policies(tmp_path: Path) -> None:
    config = doc(
        "http://localhost:8080", {"req": {"policies": ["true", "nope()"]}, "resp": {"policies": ["resp_data.a ="]}}
    )
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(config))
    out = check_config(path, cwd=ROOT)
    assert out.returncode == 1
    assert "endpoints[0].extra_config.security/policies.req.policies[1]" in out.stderr
    assert "'nope'" in out.stderr
    assert "endpoints[0].extra_config.security/policies.resp.policies[0]: policy syntax error" in out.stderr
    assert "Traceback" not in out.stderr
    config["endpoints"][0]["extra_config"][NS] = {"req": {"policies": ["getCookie('GDPR') == 'yes'"]}}
    path.write_text(json.dumps(config))
    ok = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


async def test_policies_denies_are_audit_decisions(backend: Start, tmp_path: Path) -> None:
    host = await backend(backend_app())
    audit_file = tmp_path / "audit.log"

    def ep(path: str, policies: dict[str, Any], backend_extra: dict[str, Any] | None = None) -> dict[str, Any]:
        back = {"url_pattern": "/b", "extra_config": backend_extra or {}}
        return {"endpoint": path, "input_headers": ["Cookie"], "extra_config": {NS: policies}, "backend": [back]}

    config = {
        "version": 3,
        "host": [host],
        "extra_config": {"telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True}},
        "endpoints": [
            ep("/cookie", {"req": {"policies": ["getCookie('GDPR') == 'yes'"], "error": {"status": 403}}}),
            ep("/missing", {"resp": {"policies": ["resp_data.nope.deep == 1.0"]}}),
            ep("/b", {"req": {"policies": ["true"]}}, {NS: {"resp": {"policies": ["resp_data.label == 'X'"]}}}),
        ],
    }
    gateway = await build_gateway(build_service(config))
    await gateway.start()
    client: TestClient[Any, Any] = TestClient(RawTestServer(gateway.handler, host="127.0.0.1"))
    await client.start_server()
    try:
        statuses = [
            (await client.get(path, headers={"Cookie": "GDPR=SECRET-COOKIE"})).status
            for path in ("/cookie", "/missing", "/b")
        ]
    finally:
        await client.close()
        await gateway.close()
    assert statuses == [403, 500, 500]
    lines = audit_file.read_bytes().splitlines()
    assert verify_chain(lines) and b"SECRET-COOKIE" not in audit_file.read_bytes()
    got = [(r["request"]["path"], r["decision"], r["policy"]["type"], r["reason"]) for r in map(json.loads, lines)]
    assert got == [
        ("/cookie", "deny", NS, "cel_false"),
        ("/missing", "error", NS, "policy_error"),  # the audit trail's rule: a 5xx guard answer is an error
        ("/b", "deny", NS, "cel_false"),
    ]


def test_policies_cli_run_serves_corpus_002_track_user(tmp_path: Path) -> None:
    # corpus 002's endpoints[10] as written (its backend pointed at the gateway's own echo endpoint)
    port = free_port()
    track_user = {
        "endpoint": "/track-user",
        "input_headers": ["Cookie"],
        "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/cookie", "allow": ["req_uri"]}],
        "extra_config": {
            NS: {
                "req": {
                    "error": {"body": "User did not accept the cookie and tracking is not allowed", "status": 403},
                    "policies": ["getCookie('GDPR') == 'yes'"],
                }
            }
        },
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps({"version": 3, "port": port, "echo_endpoint": True, "endpoints": [track_user]}))
    url = f"http://127.0.0.1:{port}/track-user"
    with gateway_process(path, port=port, cwd=ROOT):
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": "GDPR=yes"}), timeout=5) as ok:
            assert ok.status == 200
            assert json.loads(ok.read()) == {"req_uri": "/__echo/cookie"}
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": "GDPR=no"}), timeout=5)
        assert denied.value.code == 403
        assert denied.value.read() == b"User did not accept the cookie and tracking is not allowed"
