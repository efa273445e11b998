"""Large scrapes in steps (issue 14): ``/__stats`` summarizes its window histograms a step at a time
(one capture of one window), ``/metrics`` is encoded a chunk of series at a time and written a piece at a
time; the bytes and headers are those of the text rendered in one go, and scrapes during traffic stay
consistent (a count never goes down, a histogram's buckets agree with its count)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.server.census import Census
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.servers import PROM_LISTENERS, STATS_LISTENER, Scraped, _expvar, _send, expvar_body
from tests.components.telemetry.conftest import Served, doc, recording_app
from tests.conftest import free_port


def _extra() -> dict[str, Any]:
    exporter = {"name": "p", "port": free_port(), "listen_ip": "127.0.0.1", "process_metrics": False}
    return {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
        "telemetry/opentelemetry": {"exporters": {"prometheus": [{**exporter, "go_metrics": False}]}},
    }


async def _gateway(served: Any, upstream: Any, routes: int = 1) -> Served:
    base = await upstream(recording_app([], {"a": 1}))
    endpoints = [
        # a loaded machine's loop shared by the backend, the gateway, the scrapers and their parsing
        {"endpoint": f"/e{i}", "timeout": "30s", "backend": [{"host": [base], "url_pattern": "/u"}]}
        for i in range(routes)
    ]
    s: Served = await served(doc(endpoints, extra_config=_extra()))
    return s


def scrape_urls(s: Served) -> tuple[str, str]:
    state = s.gateway.resources.state
    return (
        f"http://127.0.0.1:{state[PROM_LISTENERS][0].bound_port}/metrics",
        f"http://127.0.0.1:{state[STATS_LISTENER].bound_port}/__stats",
    )


async def _turns(work: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    """``work``'s result and how many times another task ran on the loop meanwhile."""
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.ensure_future(other())
    await asyncio.sleep(0)
    start = turns
    result = await work()
    done = True
    await task
    return result, turns - start


def fill_windows(stats: StatsRegistry, endpoints: int) -> None:
    for i in range(endpoints):
        for what in ("size", "time"):
            stats.histogram(f"router.response./w{i}.{what}").pending.extend(
                random.randrange(1, 10**7) for _ in range(2000)
            )


async def test_stats_scrape_lets_the_loop_run_between_window_histograms(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Every window histogram's summary is a step of its own (on main the whole snapshot was one:
    ~21 ms for 100 full histograms); the body is the one rendered in one go."""
    s = await _gateway(served, upstream)
    stats = s.gateway.resources.state[HUB].stats
    assert stats is not None
    fill_windows(stats, 50)
    produce = s.gateway.resources.state[STATS_LISTENER].routes["/__stats"]
    scraped, turns = await _turns(produce)
    assert isinstance(scraped, Scraped) and scraped.content_type == "application/json; charset=utf-8"
    assert turns >= 100
    shown = orjson.loads(scraped.body())
    whole = stats.snapshot()
    assert shown.keys() == whole.keys()
    volatile = {"cmdline", "memstats", "krakend.service.debug.GCStats.NumGC", "krakend.service.runtime.NumThread"}
    assert {k: v for k, v in shown.items() if k not in volatile} == {
        k: v for k, v in whole.items() if k not in volatile
    }
    assert scraped.body() == b"".join(_expvar(shown))  # the layout: one sorted "key": value a line


def test_stats_body_pieces_join_to_the_one_go_layout() -> None:
    """Written :data:`~krakenpy.telemetry.servers._KEYS` keys a piece, across piece boundaries."""
    for n in (0, 1, 255, 256, 257, 513):
        snapshot: dict[str, object] = {f"k{i:04}": [i, i / 3] if i % 2 else i for i in range(n)}
        lines = [f"{orjson.dumps(k).decode()}: {orjson.dumps(snapshot[k]).decode()}" for k in sorted(snapshot)]
        assert b"".join(_expvar(snapshot)) == ("{\n" + ",\n".join(lines) + "\n}\n").encode()
        assert len(_expvar(snapshot)) == max(1, -(-n // 256))


def test_stats_snapshot_steps_keep_one_window_through_a_tick() -> None:
    """A tick while the snapshot pauses: the body is the window captured before it (every histogram,
    counter and gauge of one body from the same window); the next snapshot reads the new one."""
    stats = StatsRegistry()
    first, second = stats.histogram("a"), stats.histogram("b")
    for h in (first, second):
        for v in (5, 6, 7):
            h.update(v)
    census = Census()
    stats.tenure = census.tenure()
    census.hand_over(stats.tenure)
    census.opened += 3  # accepted in this window
    out: dict[str, Any] = {}
    steps = stats.snapshot_steps(out)
    next(steps)  # captured, "a" summarized (3 values); the loop runs: the window ends, a new value comes
    stats.tick()
    first.update(9)
    for _ in steps:
        pass
    assert out["krakend.a.count"] == 3 and out["krakend.a.max"] == 7.0
    assert out["krakend.b.count"] == 3
    assert out["krakend.router.connected"] == 3 and out["krakend.router.connected-gauge"] == 0
    after = orjson.loads(expvar_body(stats))  # the one-step snapshot after the tick: the new window
    assert after["krakend.a.count"] == 1 and after["krakend.a.max"] == 9.0 and after["krakend.b.count"] == 0
    assert after["krakend.router.connected-gauge"] == 3 and after["krakend.router.connected"] == 0


async def test_metrics_scrape_encoded_and_written_in_pieces(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """1,000 histogram series (2.6 MB): pieces of a chunk of series each, joined by nobody (main
    joined and encoded the whole text in one step, ~7 ms at 1,900 series); the served bytes are
    the registry's rendered in one go, and a HEAD has the GET's length."""
    s = await _gateway(served, upstream)
    registry = s.gateway.resources.state[HUB].registry
    assert registry is not None
    family = registry.family("bench.filler", "histogram", ["i"])
    for i in range(1000):
        family.histogram(str(i)).observe(i / 1000)
    produce = s.gateway.resources.state[PROM_LISTENERS][0].routes["/metrics"]
    scraped = await produce()
    assert isinstance(scraped, Scraped) and scraped.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert scraped.size > 2_000_000 and len(scraped.pieces) >= 1000 // 16
    assert max(map(len, scraped.pieces)) < 64_000
    url, _ = scrape_urls(s)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            body = await resp.read()
            assert resp.headers["Content-Length"] == str(len(body)) and "Transfer-Encoding" not in resp.headers
            assert resp.headers["Content-Type"] == scraped.content_type
        async with http.head(url) as resp:
            assert resp.headers["Content-Length"] == str(len(body)) and await resp.read() == b""
    info = "".join(body.decode().splitlines(keepends=True)[:3])  # target_info's three lines first
    assert info.startswith("# HELP target_info") and info.endswith("} 1\n")
    assert (
        body
        == info.encode()
        + registry.render('otel_scope_name="io.krakend.krakend-otel",' + ('otel_scope_version="0.14.4"')).encode()
    )


_BUCKET = re.compile(r'^(\w+)_bucket\{(.*?),?le="[^"]*"\} (\S+)$')
_COUNT = re.compile(r"^(\w+)_count\{(.*)\} (\S+)$")


def _histograms(text: str) -> dict[str, tuple[list[float], float]]:
    """Each histogram series' cumulative buckets and count, by name and labels (read line by line:
    prometheus_client's parser took seconds a scrape here, on the loop the requests share)."""
    buckets: dict[str, list[float]] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        found = _BUCKET.match(line)
        if found is not None:
            buckets.setdefault(f"{found[1]}{{{found[2]}}}", []).append(float(found[3]))
            continue
        found = _COUNT.match(line)
        if found is not None:
            counts[f"{found[1]}{{{found[2]}}}"] = float(found[3])
    assert buckets.keys() == counts.keys()
    return {key: (buckets[key], count) for key, count in counts.items()}


async def test_scrapes_during_traffic_stay_consistent(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Requests on 40 routes while two scrapers each read ``/metrics`` (300 more series: a scrape
    of many steps) and ``/__stats`` back to back, concurrently: in every body each histogram's
    buckets grow to its count, no count goes down from one of a scraper's bodies to its next, and
    once the traffic stops both count every request."""
    s = await _gateway(served, upstream, routes=40)
    registry = s.gateway.resources.state[HUB].registry
    assert registry is not None
    family = registry.family("bench.filler", "histogram", ["i"])
    fillers = [family.histogram(str(i)) for i in range(300)]
    prom, stats_url = scrape_urls(s)
    sent = 0
    going = True

    async def traffic() -> None:
        nonlocal sent, going
        for i in range(400):
            assert (await s.client.get(f"/e{i % 40}")).status == 200
            sent += 1
            fillers[i % 300].add(0.1)
        going = False

    async def scraper(http: aiohttp.ClientSession) -> int:
        seen: dict[str, float] = {}
        counters: dict[str, float] = {}
        scrapes = 0
        while going or not scrapes:
            async with http.get(prom) as resp:
                text = await resp.text()
            for key, (buckets, count) in _histograms(text).items():
                assert buckets == sorted(buckets) and buckets[-1] == count, key
                assert count >= seen.get(key, 0), key
                seen[key] = count
            async with http.get(stats_url) as resp:
                snapshot = orjson.loads(await resp.read())
            for key, value in snapshot.items():
                if key.startswith("krakend.router.response.") and ".status." in key:
                    assert value >= counters.get(key, 0), key
                    counters[key] = value
            scrapes += 1
        return scrapes

    async with aiohttp.ClientSession() as http:
        _, first, second = await asyncio.gather(traffic(), scraper(http), scraper(http))
        assert first >= 2 and second >= 2
        async with http.get(prom) as resp:
            text = await resp.text()
        async with http.get(stats_url) as resp:
            snapshot = orjson.loads(await resp.read())
    parsed = {f.name: f for f in text_string_to_metric_families(text)}  # the quiet body: the real parser
    assert sum(s.value for s in parsed["http_server_duration"].samples if s.name.endswith("_count")) == 400
    served_count = sum(count for key, (_, count) in _histograms(text).items() if key.startswith("http_server_duration"))
    assert served_count == sent == 400
    assert sum(v for k, v in snapshot.items() if k.startswith("krakend.router.response.") and ".status." in k) == 400
    assert sum(count for key, (_, count) in _histograms(text).items() if key.startswith("bench_filler")) == 400


async def test_a_scraper_that_hangs_up_mid_body_is_no_handler_error() -> None:
    # a Prometheus scrape timing out while a large body is written: the write's ConnectionResetError
    # left the handler, and aiohttp logged "Error handling request" with its traceback at each one
    raised: list[BaseException] = []
    ended = asyncio.Event()
    scraped = Scraped([b"x" * 65536] * 512, "text/plain")  # 32 MiB: more than the sockets' buffers hold

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await _send(request, scraped)
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            ended.set()

    server = await asyncio.get_running_loop().create_server(web.Server(handle), "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()  # a reset, the body unread
        await asyncio.wait_for(ended.wait(), 60)
    finally:
        server.close()
        await server.wait_closed()
    assert raised == []
