"""DNS SRV service discovery (``"sd": "dns"``): KrakenD's host list arithmetic, and the real gateway
calling aiohttp backends on 127.0.0.1 that a real DNS server (UDP, 127.0.0.1) names."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway
from krakenpy.sd import dnssrv
from krakenpy.sd.dnssrv import SERVER_ENV, Srv, expand
from tests.sd.dnsserver import Zone, serve_dns
from tests.server.wirekit import gateway_server

ROOT = Path(__file__).resolve().parents[2]
Start = Callable[..., Awaitable[Any]]
NAME = "api.service.test."


def test_dnssrv_expand_keeps_the_lowest_priority_and_repeats_by_weight() -> None:
    records = [Srv(10, 1, 81, "b.example."), Srv(10, 3, 80, "a.example."), Srv(20, 50, 82, "c.example.")]
    assert expand(records, "http") == ["http://a.example:80"] * 3 + ["http://b.example:81"]


def test_dnssrv_expand_scales_weights_to_100_and_divides_by_their_gcd() -> None:
    # 600 and 400 scale to 60 and 40, then divide by 20: 3 and 2
    records = [Srv(0, 400, 1, "b."), Srv(0, 600, 2, "a.")]
    assert Counter(expand(records, "https")) == {"https://a:2": 3, "https://b:1": 2}
    # a weight that scales to 0 drops its record, as in KrakenD (1 and 1000 scale to 0 and 99, then
    # 99 divides both); 2 and 4 share 2
    assert expand([Srv(0, 1, 1, "x."), Srv(0, 1000, 2, "y.")], "http") == ["http://y:2"]
    assert expand([Srv(0, 2, 1, "x."), Srv(0, 4, 2, "y.")], "http") == ["http://y:2"] * 2 + ["http://x:1"]


def test_dnssrv_expand_edge_cases() -> None:
    assert expand([], "http") == []
    # "." means the service is not available there (RFC 2782)
    assert expand([Srv(0, 5, 80, "."), Srv(0, 1, 81, "a.")], "http") == ["http://a:81"]
    # every weight 0: KrakenD would serve no host at all; each record once here
    assert expand([Srv(1, 0, 8, "b."), Srv(1, 0, 9, "a.")], "http") == ["http://a:9", "http://b:8"]
    # same weight: ordered by target, then port; IPv6 literals get brackets
    assert expand([Srv(0, 5, 2, "::1"), Srv(0, 5, 1, "::1")], "http") == ["http://[::1]:1", "http://[::1]:2"]


def _counting(seen: Counter[str], label: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen[label] += 1
        return web.json_response({"from": label, "path": request.path})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def _doc(ttl: str = "1s", **backend: Any) -> dict[str, Any]:
    entry = {"host": [NAME.rstrip(".")], "url_pattern": "/x", "sd": "dns", **backend}
    return {"version": 3, "dns_cache_ttl": ttl, "endpoints": [{"endpoint": "/a", "backend": [entry]}]}


def test_dnssrv_server_address_forms() -> None:
    assert dnssrv._server("127.0.0.1") == ("127.0.0.1", 53)
    assert dnssrv._server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert dnssrv._server("[::1]:5353") == ("::1", 5353)
    assert dnssrv._server("[::1]") == ("::1", 53)
    assert dnssrv._server("::1") == ("::1", 53)


@pytest.fixture(autouse=True)
def _no_last_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the process's last resolved hosts (another test's backends)."""
    monkeypatch.setattr(dnssrv, "_LAST_KNOWN", {})


@pytest.fixture
async def dns_zone(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Zone]:
    zone = Zone()
    transport, port = await serve_dns(zone)
    monkeypatch.setenv(SERVER_ENV, f"127.0.0.1:{port}")
    yield zone
    transport.close()


@pytest.fixture
async def serving() -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[TestClient[Any, Any]]]]:
    """A gateway built and started as a worker does (its refresh tasks run), served on 127.0.0.1."""
    built: list[tuple[Gateway, TestClient[Any, Any]]] = []

    async def start(doc: dict[str, Any]) -> TestClient[Any, Any]:
        gateway = await build_gateway(build_service(doc))
        await gateway.start()
        client: TestClient[Any, Any] = TestClient(await gateway_server(gateway.edge))
        await client.start_server()
        built.append((gateway, client))
        return client

    yield start
    for gateway, client in built:
        await client.close()
        await gateway.close()


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def test_dnssrv_calls_the_targets_in_proportion_to_their_weights(
    dns_zone: Zone, backend: Start, serving: Start
) -> None:
    seen: Counter[str] = Counter()
    a, b = await backend(_counting(seen, "a")), await backend(_counting(seen, "b"))
    # the lower priority number wins: c (priority 20) is never called
    c = await backend(_counting(seen, "c"))
    local = "127.0.0.1."
    dns_zone.records[NAME] = [(10, 3, _port(a), local), (10, 1, _port(b), local), (20, 9, _port(c), local)]
    client = await serving(_doc())
    for _ in range(200):
        response = await client.get("/a")
        assert response.status == 200
    assert seen["c"] == 0
    assert seen["a"] + seen["b"] == 200
    # 3:1 expected; the odds of b outside 20..90 of 200 are below one in a million
    assert 20 <= seen["b"] <= 90, seen


async def test_dnssrv_refreshes_every_ttl_and_keeps_the_hosts_when_a_lookup_fails(
    dns_zone: Zone, backend: Start, serving: Start, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: Counter[str] = Counter()
    a, b = await backend(_counting(seen, "a")), await backend(_counting(seen, "b"))
    dns_zone.records[NAME] = [(0, 1, _port(a), "127.0.0.1.")]
    monkeypatch.setattr(dnssrv, "LIFETIME", 0.3)  # read when the gateway's resolver is made
    client = await serving(_doc(ttl="1s"))
    assert (await (await client.get("/a")).json())["from"] == "a"
    dns_zone.records[NAME] = [(0, 1, _port(b), "127.0.0.1.")]
    for _ in range(40):  # up to 4 s for the 1 s refresh
        await asyncio.sleep(0.1)
        if (await (await client.get("/a")).json())["from"] == "b":
            break
    assert (await (await client.get("/a")).json())["from"] == "b"
    # the DNS server stops answering: the last hosts keep serving, and three timeouts (each naming
    # the seconds it took) warn once
    dns_zone.silent = True
    asked = dns_zone.asked
    with caplog.at_level(logging.WARNING, logger="krakenpy.sd"):
        for _ in range(80):
            await asyncio.sleep(0.1)
            if dns_zone.asked >= asked + 3:
                break
        assert dns_zone.asked >= asked + 3
        await asyncio.sleep(0.2)  # the last answer handled
        response = await client.get("/a")
        assert response.status == 200 and (await response.json())["from"] == "b"
    failed = [r for r in caplog.records if "lookup failed" in r.getMessage()]
    assert len(failed) == 1 and "keeping 1 host(s)" in failed[0].getMessage()


async def test_dnssrv_unknown_name_fails_calls_until_it_resolves(
    dns_zone: Zone, backend: Start, serving: Start, caplog: pytest.LogCaptureFixture
) -> None:
    seen: Counter[str] = Counter()
    a = await backend(_counting(seen, "a"))
    with caplog.at_level(logging.WARNING, logger="krakenpy.sd"):
        client = await serving(_doc(ttl="1s", sd_scheme="http"))
    assert any("lookup failed" in r.getMessage() and "NXDOMAIN" in r.getMessage() for r in caplog.records)
    response = await client.get("/a")
    assert response.status == 500
    assert seen["a"] == 0
    dns_zone.records[NAME] = [(0, 1, _port(a), "127.0.0.1.")]
    for _ in range(40):
        await asyncio.sleep(0.1)
        response = await client.get("/a")
        if response.status == 200:
            break
    assert response.status == 200 and seen["a"] >= 1
    assert any("resolved again" in r.getMessage() for r in caplog.records)


async def test_dnssrv_backends_naming_the_same_records_share_one_lookup(
    dns_zone: Zone, backend: Start, serving: Start
) -> None:
    seen: Counter[str] = Counter()
    a = await backend(_counting(seen, "a"))
    dns_zone.records[NAME] = [(0, 1, _port(a), "127.0.0.1.")]
    doc = _doc(ttl="60s")
    doc["endpoints"].append({"endpoint": "/b", "backend": [dict(doc["endpoints"][0]["backend"][0], url_pattern="/y")]})
    client = await serving(doc)
    assert dns_zone.asked == 1
    assert (await client.get("/a")).status == 200 and (await client.get("/b")).status == 200
    assert seen["a"] == 2


async def test_dnssrv_a_gateway_rebuilt_while_dns_fails_keeps_the_last_hosts(
    dns_zone: Zone, backend: Start, serving: Start
) -> None:
    seen: Counter[str] = Counter()
    a = await backend(_counting(seen, "a"))
    dns_zone.records[NAME] = [(0, 1, _port(a), "127.0.0.1.")]
    first = await serving(_doc(ttl="60s"))
    assert (await first.get("/a")).status == 200
    dns_zone.servfail = True
    # a reload builds a new gateway: its first lookup fails, the hosts the process knew serve
    second = await serving(_doc(ttl="60s"))
    response = await second.get("/a")
    assert response.status == 200 and (await response.json())["from"] == "a"


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_dnssrv_check_no_longer_warns_and_flags_a_host_with_a_scheme(tmp_path: Path) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(orjson.dumps(_doc(sd_scheme="https")).decode())
    result = _cli("check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    doc = _doc()
    doc["endpoints"][0]["backend"][0]["host"] = ["http://api.service.test"]
    path.write_text(orjson.dumps(doc).decode())
    result = _cli("check", "-c", str(path))
    assert result.returncode == 0
    assert "endpoints[0].backend[0].host[0]" in result.stdout + result.stderr
    assert "never resolves" in result.stdout + result.stderr
    # the service's host, when the backend has none: the warning names the service's field
    del doc["endpoints"][0]["backend"][0]["host"]
    doc["host"] = ["http://api.service.test"]
    path.write_text(orjson.dumps(doc).decode())
    result = _cli("check", "-c", str(path))
    assert result.returncode == 0
    assert "WARNING: host[0]: with sd 'dns'" in result.stdout + result.stderr
