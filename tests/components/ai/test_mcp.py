"""``ai/mcp`` as a component: its parse, its build through the gateway, the endpoint's guards around
it, stateful sessions, and the real CLI's ``check`` on bad configs (JSON path, exit 1)."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.registry import catalog
from krakenpy.config.build import build_service
from krakenpy.config.namespaces import namespace_issues
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, parse_components
from tests.conftest import ROOT
from tests.mcp.helpers import HITS, JSON_HEADERS, backend_app, mcp_config, rpc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]
INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}


def _issues(doc: dict[str, Any]) -> list[str]:
    _, issues = parse_components(build_service(doc))
    return [str(issue) for issue in issues]


def test_mcp_parse_reports_bad_values_at_their_json_path() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    server = doc["extra_config"]["ai/mcp"]["servers"][0]
    server["tools"][0]["input_schema"] = {"type": "object", "properties": {"code": {"minLength": "two"}}}
    server["tools"][1]["workflow"]["backend"][0]["url_pattern"] = "/countries/{country}"
    server["tools"].append(copy.deepcopy(server["tools"][2]))
    issues = _issues(doc)
    tools = "extra_config.ai/mcp.servers[0].tools"
    assert any(i.startswith(f"{tools}[0].input_schema.properties.code.minLength: invalid JSON Schema") for i in issues)
    assert f"{tools}[1].workflow.backend[0].url_pattern: undefined output param 'country'" in issues
    assert f"{tools}[3].name: tool 'pixel' is declared twice in this server" in issues


def test_mcp_parse_entry_point_needs_a_declared_server() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    doc["endpoints"][0]["extra_config"]["ai/mcp"] = {"server_name": "weather"}
    assert (
        "endpoints[0].extra_config.ai/mcp.server_name: no server 'weather' in the service's extra_config.ai/mcp.servers"
    ) in _issues(doc)
    doc["endpoints"][0]["extra_config"]["ai/mcp"] = {"servers": []}
    assert "endpoints[0].extra_config.ai/mcp.servers: servers belongs in the service's ai/mcp" in _issues(doc)


def test_mcp_parse_warns_about_a_get_entry_point_and_unimplemented_workflow_namespaces() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    doc["endpoints"][0]["method"] = "GET"
    workflow = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][0]["workflow"]
    workflow["extra_config"] = {"modifier/response-headers": {"add": {}}, "@comment": "x"}
    issues = _issues(doc)
    assert any(i.startswith("endpoints[0].method: MCP clients POST") for i in issues)
    # the config checks walk workflows: one warning per unimplemented namespace, not two
    where = "extra_config.ai/mcp.servers[0].tools[0].workflow.extra_config.modifier/response-headers"
    assert not any(i.startswith(where) for i in issues)
    warned = [str(i) for i in namespace_issues(doc, catalog())]
    assert warned == [f"{where}: KrakenD Enterprise namespace: not supported, ignored"]


async def test_mcp_workflow_backend_components_are_built_and_run(backend: Start, gateway: Gateway) -> None:
    """A backend-layer component inside a workflow (a CEL check on the request) acts as on an endpoint."""
    app = backend_app()
    doc = mcp_config(await backend(app))
    workflow = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][1]["workflow"]
    workflow["backend"][0]["extra_config"] = {"validation/cel": [{"check_expr": "req_params.Code != 'FR'"}]}
    client = await gateway(doc)
    ok = (await rpc(client, "tools/call", {"name": "quiet", "arguments": {"code": "ES"}}))["result"]
    assert ok["isError"] is False and ok["structuredContent"]["code"] == "ES"
    refused = (await rpc(client, "tools/call", {"name": "quiet", "arguments": {"code": "FR"}}))["result"]
    assert refused["isError"] is True
    assert [hit[1] for hit in app[HITS]] == ["/countries/ES"]


async def test_mcp_workflow_build_errors_stop_the_gateway(tmp_path: Path) -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    workflow = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][0]["workflow"]
    workflow["backend"][0]["extra_config"] = {"modifier/lua-backend": {"sources": ["missing.lua"], "pre": "x()"}}
    with pytest.raises(ConfigError) as info:
        await build_gateway(build_service(doc), base_dir=tmp_path, serving=False)
    where = "extra_config.ai/mcp.servers[0].tools[0].workflow.backend[0].extra_config.modifier/lua-backend.sources[0]"
    assert any(issue.path == where for issue in info.value.issues)


async def test_mcp_endpoint_guards_run_before_the_server(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    client = await gateway(mcp_config(await backend(app), endpoint_extra={"auth/basic": {"users": {"ada": "secret"}}}))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "quiet", "arguments": {"code": "ES"}}}
    resp = await client.post("/mcp", json=call, headers=JSON_HEADERS)
    assert resp.status == 401
    assert app[HITS] == []
    good = {"Authorization": "Basic " + base64.b64encode(b"ada:secret").decode()}
    assert (await rpc(client, "tools/call", call["params"], headers=good))["result"]["isError"] is False


async def test_mcp_rate_limit_applies_to_the_entry_point(backend: Start, gateway: Gateway) -> None:
    limit = {"qos/ratelimit/router": {"max_rate": 1, "capacity": 1, "every": "1h"}}
    client = await gateway(mcp_config(await backend(backend_app()), endpoint_extra=limit))
    assert (await rpc(client, "ping"))["result"] == {}
    resp = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=JSON_HEADERS)
    assert resp.status == 503  # the router limiter's answer, as KrakenD's


@pytest.mark.parametrize(
    ("where", "limit"),
    [
        ("endpoint", {"qos/ratelimit/router": {"max_rate": 100, "capacity": 100, "every": "1h"}}),
        ("service", {"qos/ratelimit/service": {"max_rate": 100, "capacity": 100, "every": "1h"}}),
    ],
)
async def test_mcp_rate_limited_batch_carries_one_tools_call_at_most(
    backend: Start, gateway: Gateway, where: str, limit: dict[str, Any]
) -> None:
    """One HTTP request is one token: a batch of tools/call would run many workflows for it."""
    app = backend_app()
    doc = mcp_config(await backend(app), endpoint_extra=limit if where == "endpoint" else None)
    if where == "service":
        doc["extra_config"].update(limit)
    client = await gateway(doc)
    call = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "quiet", "arguments": {"code": "ES"}}}
    headers = {**JSON_HEADERS, "MCP-Protocol-Version": "2025-03-26"}
    resp = await client.post("/mcp", json=[{**call, "id": i} for i in range(3)], headers=headers)
    assert resp.status == 400
    assert "at most one tools/call" in (await resp.json())["error"]["message"]
    assert app[HITS] == []
    one = [{**call, "id": 1}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]
    resp = await client.post("/mcp", json=one, headers=headers)
    assert resp.status == 200
    assert [a["id"] for a in await resp.json()] == [1, 2]
    assert len(app[HITS]) == 1


async def test_mcp_stateful_server_hands_out_and_requires_a_session(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app()), stateless=False))
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}
    resp = await client.post("/mcp", json=message, headers=JSON_HEADERS)
    assert resp.status == 200
    session = resp.headers["Mcp-Session-Id"]
    assert len(session) == 32 and session.isalnum()
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    resp = await client.post("/mcp", json=ping, headers=JSON_HEADERS)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == -32600
    resp = await client.post("/mcp", json=ping, headers={**JSON_HEADERS, "Mcp-Session-Id": "bad id"})
    assert resp.status == 400
    answer = await rpc(client, "ping", ident=3, headers={"Mcp-Session-Id": session})
    assert answer == {"jsonrpc": "2.0", "id": 3, "result": {}}


async def test_mcp_stateless_server_hands_out_no_session(backend: Start, gateway: Gateway) -> None:
    client = await gateway(mcp_config(await backend(backend_app())))
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}
    resp = await client.post("/mcp", json=message, headers=JSON_HEADERS)
    assert resp.status == 200
    assert "Mcp-Session-Id" not in resp.headers


async def test_mcp_absent_namespace_builds_nothing(backend: Start, gateway: Gateway) -> None:
    """Without ai/mcp, an endpoint's layers are what they were: nothing of the MCP server is imported
    or built (the module is not loaded by a config that does not name it)."""
    code = (
        "import sys, asyncio\n"
        "from krakenpy.config.build import build_service\n"
        "from krakenpy.gateway import build_gateway\n"
        "backend = {'host': ['http://127.0.0.1:8000'], 'url_pattern': '/a'}\n"
        "doc = {'version': 3, 'endpoints': [{'endpoint': '/a', 'backend': [backend]}]}\n"
        "async def main():\n"
        "    gw = await build_gateway(build_service(doc), serving=False)\n"
        "    await gw.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('krakenpy.mcp', 'krakenpy.components.ai'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _check(tmp_path: Path, doc: dict[str, Any], *flags: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    argv = [sys.executable, "-m", "krakenpy", "check", "-c", str(path), *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("skip", [False, True])
def test_mcp_cli_check_reports_bad_config_at_json_paths(tmp_path: Path, skip: bool) -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    server = doc["extra_config"]["ai/mcp"]["servers"][0]
    del server["version"]
    server["tools"][0]["type"] = "video"
    server["tools"][1]["workflow"]["backend"][0]["url_pattern"] = "/countries/{country}"
    out = _check(tmp_path, doc, *(["--skip-components"] if skip else []))
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "extra_config.ai/mcp.servers[0]: 'version' is a required property" in text
    assert "extra_config.ai/mcp.servers[0].tools[0].type: 'video' is not one of" in text
    assert "Traceback" not in text


def test_mcp_cli_check_accepts_a_good_config(tmp_path: Path) -> None:
    out = _check(tmp_path, mcp_config("http://127.0.0.1:8000"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Syntax OK!" in out.stdout


def test_mcp_parse_refuses_a_guard_on_a_workflow_and_warns_about_other_endpoint_namespaces() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    workflow = doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][0]["workflow"]
    where = "extra_config.ai/mcp.servers[0].tools[0].workflow.extra_config"
    workflow["extra_config"] = {"telemetry/audit": {}}
    assert _issues(doc) == [
        f"{where}.telemetry/audit: not run in a workflow (only proxy-layer namespaces are): ignored"
    ]
    workflow["extra_config"] = {"auth/basic": {"users": {"a": "b"}}}
    assert _issues(doc) == [f"{where}.auth/basic: a workflow runs no guard: set it on the MCP entry point"]


def test_mcp_parse_warns_about_a_server_no_endpoint_serves() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    doc["endpoints"][0]["extra_config"] = {}
    message = "no endpoint serves this server (an endpoint's ai/mcp.server_name names it): never built"
    assert _issues(doc) == [f"extra_config.ai/mcp.servers[0].name: {message}"]


def test_mcp_parse_warns_about_a_workflow_backend_without_host() -> None:
    doc = mcp_config("http://127.0.0.1:8000")
    del doc["extra_config"]["ai/mcp"]["servers"][0]["tools"][2]["workflow"]["backend"][0]["host"]
    where = "extra_config.ai/mcp.servers[0].tools[2].workflow.backend[0].host"
    assert _issues(doc) == [
        f"{where}: no host here nor in the service's host: every call of the tool fails ('no hosts available')"
    ]


@pytest.mark.parametrize(
    ("namespace", "value"),
    [
        ("validation/cel", [{"check_expr": "'X-Ok' in req_headers"}]),
        ("validation/json-schema", {"type": "object", "required": ["nope"]}),
        ("modifier/lua-proxy", {"pre": "local r = request.load()"}),
    ],
)
async def test_mcp_entry_point_refuses_proxy_layer_namespaces(tmp_path: Path, namespace: str, value: Any) -> None:
    """The MCP server answers in place of the entry point's proxy stack: a check there would never run."""
    doc = mcp_config("http://127.0.0.1:8000", endpoint_extra={namespace: value})
    with pytest.raises(ConfigError) as info:
        await build_gateway(build_service(doc), base_dir=tmp_path, serving=False)
    paths = [issue.path for issue in info.value.issues]
    assert paths == [f"endpoints[0].extra_config.{namespace}"]
    assert "MCP entry point" in info.value.issues[0].message


async def test_mcp_entry_point_accepts_cel_checks_that_run_on_the_endpoint_layer(
    backend: Start, gateway: Gateway
) -> None:
    """A CEL list with no req/resp expression runs nothing at the proxy layer: nothing is skipped."""
    extra = {"validation/cel": [{"check_expr": "JWT.sub == 'ada'"}]}
    client = await gateway(mcp_config(await backend(backend_app()), endpoint_extra=extra))
    assert (await rpc(client, "ping"))["result"] == {}
