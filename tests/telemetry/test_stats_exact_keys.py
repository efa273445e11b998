"""``/__stats`` scraped over HTTP with a short ``collection_time``: the exact key set krakend-metrics
writes for one endpoint and its backend, and the real window timer clearing every histogram while
the counters go on."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from krakenpy.telemetry.servers import STATS_LISTENER
from tests.components.telemetry.conftest import doc, recording_app

HIST = ("count", "min", "max", "mean", "std-dev", "50-percentile", "75-percentile", "95-percentile",
        "99-percentile", "999-percentile")  # fmt: skip
COMBOS = [f"complete.{c}.error.{e}" for c in ("true", "false") for e in ("true", "false")]
ENDPOINT, BACKEND = "/users/:id", "/u/{{.Id}}"


def _expected() -> set[str]:
    """KrakenD's names (krakend-metrics): the router's connection keys, the endpoint's response
    status counter (registered, never incremented), its status code counter and size and time
    histograms, and each layer's four request counters and latency histograms."""
    router = {f"krakend.router.{key}" for key in ("connected", "disconnected")}
    router |= {f"krakend.router.{key}-{kind}" for key in ("connected", "disconnected") for kind in ("total", "gauge")}
    response = f"krakend.router.response.{ENDPOINT}"
    keys = router | {f"{response}.status", f"{response}.status.200.count"}
    keys |= {f"{response}.{name}.{suffix}" for name in ("size", "time") for suffix in HIST}
    for layer, name in (("pipe", ENDPOINT), ("backend", BACKEND)):
        for combo in COMBOS:
            keys.add(f"krakend.proxy.requests.layer.{layer}.name.{name}.{combo}")
            keys |= {f"krakend.proxy.latency.layer.{layer}.name.{name}.{combo}.{suffix}" for suffix in HIST}
    return keys


async def _scrape(http: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{port}/__stats") as resp:
        assert resp.status == 200
        stats: dict[str, Any] = orjson.loads(await resp.read())
        return stats


async def test_stats_exact_keys_and_the_window_timer(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    s = await served(
        doc(
            [{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
            extra_config={"telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "200ms"}},
        )
    )
    port = s.gateway.resources.state[STATS_LISTENER].bound_port
    response = f"krakend.router.response.{ENDPOINT}"
    pipe_ok = f"krakend.proxy.requests.layer.pipe.name.{ENDPOINT}.complete.true.error.false"
    backend_ok = f"krakend.proxy.requests.layer.backend.name.{BACKEND}.complete.true.error.false"
    for i in range(2):
        assert (await s.client.get(f"/users/{i}")).status == 200
    async with aiohttp.ClientSession() as http, asyncio.timeout(10):
        stats = await _scrape(http, port)
        while stats[backend_ok] < 2 or stats[pipe_ok] < 2:  # the proxy layers: recorded off the request path
            await asyncio.sleep(0.01)
            stats = await _scrape(http, port)
        # the Go runtime's keys are best effort in Python; everything else is exactly KrakenD's
        service = {key for key in stats if key.startswith("krakend.service.")}
        assert set(stats) - service == _expected() | {"cmdline", "memstats"}
        assert stats[f"{response}.status.200.count"] == 2 and stats[f"{response}.status"] == 0
        assert stats[pipe_ok] == 2 and stats[backend_ok] == 2
        # the 200 ms timer ends the window: every histogram cleared, the counters kept
        while stats[f"{response}.time.count"] or stats[f"{pipe_ok.replace('requests', 'latency')}.count"]:
            await asyncio.sleep(0.02)
            stats = await _scrape(http, port)
        assert stats[f"{response}.size.count"] == 0 and stats[f"{response}.size.max"] == 0
        assert stats[f"{response}.status.200.count"] == 2 and stats[pipe_ok] == 2 and stats[backend_ok] == 2
        assert (await s.client.get("/users/3")).status == 200
        while stats[backend_ok] < 3 or stats[pipe_ok] < 3:
            await asyncio.sleep(0.01)
            stats = await _scrape(http, port)
        assert stats[f"{response}.status.200.count"] == 3 and stats[pipe_ok] == 3
