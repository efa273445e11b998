"""qos/ratelimit/router/redis: EE's fields, pool references checked, two instances share one limit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from krakenpy.components.qos.ratelimit.router.redis import COMPONENT
from krakenpy.errors import ConfigError, Rejection
from krakenpy.proxy.types import Request
from krakenpy.redis_pools import REDIS_CLIENTS
from tests.cli_gateway import wait_http
from tests.components.qos.helpers import resources_for, site_for
from tests.conftest import ROOT, free_port
from tests.doubles import static_proxy
from tests.redis_server import RedisServer


def _pools(address: str = "127.0.0.1:6379") -> dict[str, Any]:
    return {
        "redis": {
            "connection_pools": [{"name": "shared", "address": address, "password": "s3cret"}],
            "clusters": [{"name": "big", "addresses": ["127.0.0.1:7000"]}],
        }
    }


def _site(value: dict[str, Any], address: str = "127.0.0.1:6379") -> Any:
    return site_for(COMPONENT.namespace, value, service_extra=_pools(address))


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"client_max_rate": 1}, "connection_name", "name a pool"),
        ({"connection_name": "nope", "max_rate": 1}, "connection_name", "no pool named 'nope'"),
        ({"connection_pool": "big", "max_rate": 1}, "connection_pool", "Redis Cluster"),
        ({"connection_name": "shared", "max_rate": 1, "timeout": "0s"}, "timeout", "positive"),
    ],
)
def test_redis_parse_errors_have_json_paths(value: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, _site(value))
    issue = info.value.issues[0]
    assert issue.path == f"endpoints[0].extra_config.qos/ratelimit/router/redis.{path}"
    assert message in issue.message


def test_redis_parse_ee_fields_and_deprecated_pool_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real default (the conftest makes these tests patient)
    value = {"connection_pool": "shared", "client_max_rate": 10, "every": "1m", "strategy": "jwt", "key": "sub"}
    options = COMPONENT.parse(value, _site(value))
    assert options.connection_name == "shared" and not options.on_failure_allow
    assert options.timeout == 0.1 and options.limit.strategy == "jwt"


def _request(user: str) -> Request:
    return Request(method="GET", path="/x", params={}, headers={"X-User": [user]}, query={})


async def test_redis_two_instances_share_the_limit_then_redis_dies(redis_server: RedisServer) -> None:
    value = {
        "connection_name": "shared",
        "client_max_rate": 3,
        "client_capacity": 3,
        "every": "1h",
        "strategy": "header",
        "key": "X-User",
        # 5 s, not the default 100 ms: a loaded host's first call (connect, script load) took 140 ms
        # and the healthy store was taken as down; a killed Redis refuses at once all the same
        "timeout": "5s",
    }
    pools = {"redis": {"connection_pools": [{"name": "shared", "address": redis_server.address}]}}
    site = site_for(COMPONENT.namespace, value, service_extra=pools)
    instances = []
    for _ in range(2):  # two gateways: their own resources, pools and clients
        resources = resources_for(site)
        assert COMPONENT.endpoint is not None
        mw = await COMPONENT.endpoint(COMPONENT.parse(value, site), site, resources)
        assert mw is not None
        instances.append((mw(static_proxy({})), resources))
    try:
        statuses = []
        for i in range(5):
            proxy = instances[i % 2][0]
            try:
                await proxy(_request("alice"))
                statuses.append(200)
            except Rejection as exc:
                statuses.append(exc.status)
        assert statuses == [200, 200, 200, 429, 429]
        assert len(instances[0][1].state[REDIS_CLIENTS]) == 1
        redis_server.kill()
        with pytest.raises(Rejection) as info:
            await instances[0][0](_request("bob"))  # a fresh client, but no store to ask: blocked
        assert info.value.status == 429 and info.value.detail == "rate limit store unavailable"
    finally:
        for _, resources in instances:
            await resources.stack.aclose()


def _get(url: str, user: str) -> int:
    request = urllib.request.Request(url, headers={"X-User": user})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_redis_two_cli_processes_share_the_limit_and_redis_dies(tmp_path: Path, redis_server: RedisServer) -> None:
    limit = {"connection_name": "shared", "client_max_rate": 3, "client_capacity": 3, "every": "1h"}
    limit |= {"strategy": "header", "key": "X-User", "timeout": "5s"}  # not 100 ms: a loaded host's first call
    ports = [free_port(), free_port()]
    procs = []
    try:
        for port in ports:
            doc = {
                "version": 3,
                "port": port,
                "echo_endpoint": True,
                "extra_config": {"redis": {"connection_pools": [{"name": "shared", "address": redis_server.address}]}},
                "endpoints": [
                    {
                        "endpoint": path,
                        "extra_config": {"qos/ratelimit/router/redis": limit | {"on_failure_allow": allow}},
                        "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/x"}],
                    }
                    for path, allow in (("/closed", False), ("/open", True))
                ],
            }
            config = tmp_path / f"krakend-{port}.json"
            config.write_text(json.dumps(doc))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "--workers", "1"],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,  # the log lines, wherever the logger writes them
                    text=True,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            wait_http(f"http://127.0.0.1:{port}/__health", proc)
        urls = [f"http://127.0.0.1:{port}/closed" for port in ports]
        # one limit for both processes: 3 requests of "alice", whichever instance serves them
        assert [_get(urls[i % 2], "alice") for i in range(5)] == [200, 200, 200, 429, 429]
        assert _get(urls[1], "bob") == 200
        redis_server.kill()
        # fail closed by default (KrakenD Enterprise), open with on_failure_allow
        assert [_get(url, "carol") for url in urls] == [429, 429]
        assert [_get(f"http://127.0.0.1:{port}/open", "carol") for port in ports] == [200, 200]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        errors = []
        for proc in procs:
            try:
                errors.append(proc.communicate(timeout=20)[0])
            except subprocess.TimeoutExpired:
                proc.kill()
                errors.append(proc.communicate()[0])
    assert all("Redis unavailable (ConnectionError); refusing for 1.0s" in err for err in errors), errors


def test_redis_cli_check_names_the_missing_pool(tmp_path: Path) -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {"qos/ratelimit/router/redis": {"connection_name": "nope", "max_rate": 1}},
                "backend": [{"host": ["h:80"], "url_pattern": "/"}],
            }
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "endpoints[0].extra_config.qos/ratelimit/router/redis.connection_name: no pool named 'nope'" in out.stderr
