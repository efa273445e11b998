"""qos/ratelimit/service (KrakenD Enterprise): one limit for every endpoint together, at each
endpoint's rate-limit step (after its guards), before the endpoint's own limits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from krakenpy.components.qos.ratelimit.service import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.cli_gateway import wait_http
from tests.components.helpers import json_app
from tests.components.qos.helpers import resources_for, site_for
from tests.conftest import ROOT, free_port, make_config

KEY_A = "4d2c61e1-34c4-e96c-9456-15bd983c5019"
KEY_B = "9f0a11b2-77aa-4c3e-8d1e-0b6a3c2d4e5f"


def _doc(host: str, service_limit: dict[str, Any], **endpoint_extra: dict[str, Any]) -> dict[str, Any]:
    endpoints = [
        {"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/a"}], "extra_config": dict(endpoint_extra)},
        {"endpoint": "/b/{id}", "backend": [{"host": [host], "url_pattern": "/b"}]},
    ]
    return make_config(endpoints, extra_config={"qos/ratelimit/service": service_limit})


async def test_service_global_limit_is_shared_by_every_endpoint(backend: Any, gateway: Any) -> None:
    seen: list[web.Request] = []
    host = await backend(json_app({"ok": True}, seen=seen))
    client = await gateway(_doc(host, {"max_rate": 3, "capacity": 3, "every": "1h"}))
    statuses = [(await client.get(path)).status for path in ("/a", "/b/1", "/b/2", "/a", "/b/3")]
    assert statuses == [200, 200, 200, 503, 503]
    response = await client.get("/b/4")
    assert response.status == 503 and await response.read() == b""
    assert not [h for h in response.headers if h.startswith("X-Krakend")]
    assert len(seen) == 3
    assert (await client.get("/__health")).status == 200  # not an endpoint: never limited


async def test_service_client_limit_counts_a_client_on_all_endpoints(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    limit = {"client_max_rate": 2, "client_capacity": 2, "every": "1h", "strategy": "header", "key": "X-User"}
    client = await gateway(_doc(host, limit))

    async def status(path: str, user: str | None) -> int:
        return (await client.get(path, headers={"X-User": user} if user else {})).status

    assert [await status(p, "alice") for p in ("/a", "/b/1", "/a")] == [200, 200, 429]
    assert [await status(p, "bob") for p in ("/b/9", "/a")] == [200, 200]  # another client, its own bucket
    assert await status("/a", None) == 429  # no client key: over the limit, as the router limit


async def test_service_limit_runs_after_the_endpoint_guard(backend: Any, gateway: Any) -> None:
    """Placed at the rate-limit step: refused keys consume nothing, and the identity the endpoint's
    guard verified (here API keys: claims key_id) names the client with strategy jwt."""
    host = await backend(json_app({"ok": True}))
    keys = {"keys": [{"key": KEY_A, "roles": ["r"]}, {"key": KEY_B, "roles": ["r"]}]}
    limit = {"client_max_rate": 1, "client_capacity": 1, "max_rate": 3, "capacity": 3, "every": "1h"}
    doc = _doc(host, limit | {"strategy": "jwt", "key": "key_id"}, **{"auth/api-keys": {"roles": ["r"]}})
    doc["extra_config"]["auth/api-keys"] = keys
    client = await gateway(doc)
    for _ in range(5):  # bad keys: 401 from the guard, before the limit
        assert (await client.get("/a", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get("/a", headers={"Authorization": KEY_A})).status == 200
    assert (await client.get("/a", headers={"Authorization": KEY_A})).status == 429
    assert (await client.get("/a", headers={"Authorization": KEY_B})).status == 200
    # /b has no guard: no verified identity, so no client key
    assert (await client.get("/b/1")).status == 429


async def test_service_limit_is_outside_the_endpoint_limit(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    service = {"max_rate": 2, "capacity": 2, "every": "1h", "rate_limit_headers": True}
    router = {"max_rate": 1, "capacity": 1, "every": "1h", "rate_limit_headers": True}
    client = await gateway(_doc(host, service, **{"qos/ratelimit/router": router}))
    assert (await client.get("/a")).status == 200
    refused = await client.get("/a")  # the service bucket is taken first, then the endpoint's refuses
    assert refused.status == 503 and refused.headers["RateLimit-Policy"] == '"endpoint";q=1;w=3600'
    refused = await client.get("/b/1")  # the service bucket is now empty for every endpoint
    assert refused.status == 503 and refused.headers["RateLimit-Policy"] == '"service";q=2;w=3600'


async def test_service_absent_builds_nothing_and_param_strategy_warns() -> None:
    site = site_for(COMPONENT.namespace, {}, level="endpoint")
    assert COMPONENT.endpoint is not None
    assert await COMPONENT.endpoint(None, site, resources_for(site)) is None  # no service value: no cost
    doc = _doc("http://127.0.0.1:9000", {"client_max_rate": 5, "strategy": "param", "key": "id"})
    gw = await build_gateway(build_service(doc), serving=False)
    try:
        assert gw.resources.warnings == [
            "extra_config.qos/ratelimit/service: endpoints without a parameter 'id' answer 429 to every request: /a"
        ]
    finally:
        await gw.close()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_service_cli_run_serves_the_limit(tmp_path: Path) -> None:
    """The real CLI: `check` accepts the namespace (no refusal), `run` limits all endpoints together."""
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        "extra_config": {"qos/ratelimit/service": {"max_rate": 3, "capacity": 3, "every": "1h"}},
        "endpoints": [
            {"endpoint": path, "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/x"}]}
            for path in ("/one", "/two")
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    check = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert "qos/ratelimit/service" not in check.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "--workers", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        base = f"http://127.0.0.1:{port}"
        assert [_get(f"{base}{p}") for p in ("/one", "/two", "/one", "/two")] == [200, 200, 200, 503]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
