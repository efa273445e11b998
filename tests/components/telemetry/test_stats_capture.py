"""``/__stats`` captured once, summarized in steps (the review of branch ``scrape``): a snapshot feeds
the request path's rows and samples the queued values in steps, then takes the counters, gauges and
every window histogram's reservoir in one step, and summarizes those in steps. It ends whatever the
ticks do (the stepped snapshot it replaces started over after each one, without limit), and one body
agrees with itself while ``/metrics`` scrapes fold the same slots in steps; ``run -w N``'s own part
(:class:`StatsPart`) is the same."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import aiohttp
import orjson

from krakenpy.server.census import Census
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.metrics.shared import HIST_KEYS, StatsPart
from krakenpy.telemetry.metrics.stats import StatsRegistry
from tests.components.telemetry.conftest import Served, doc, recording_app
from tests.components.telemetry.test_scrape_steps import scrape_urls
from tests.conftest import free_port


async def _gateway(served: Any, upstream: Any, routes: int, collection: str = "1h") -> Served:
    base = await upstream(recording_app([], {"a": 1}))
    exporter = {"name": "p", "port": free_port(), "listen_ip": "127.0.0.1", "process_metrics": False}
    extra = {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": collection},
        "telemetry/opentelemetry": {"exporters": {"prometheus": [{**exporter, "go_metrics": False}]}},
    }
    endpoints = [
        {"endpoint": f"/e{i}", "timeout": "30s", "backend": [{"host": [base], "url_pattern": "/u"}]}
        for i in range(routes)
    ]
    s: Served = await served(doc(endpoints, extra_config=extra))
    return s


def _stats(s: Served) -> StatsRegistry:
    stats = s.gateway.resources.state[HUB].stats
    assert stats is not None
    return stats


def test_a_stepped_snapshot_ends_when_every_pass_sees_a_tick() -> None:
    """The window ends every 60 loop turns, a pass over 100 histograms takes 100: the snapshot ends
    (the one it replaces started over at each tick, for ever) with the window it captured."""
    stats = StatsRegistry()
    for i in range(100):
        stats.histogram(f"h{i}").update(i)
    out: dict[str, Any] = {}
    steps = 0
    for steps, _ in zip(itertools.count(1), stats.snapshot_steps(out), strict=False):
        if steps % 60 == 0:
            stats.tick()
            for i in range(100):
                stats.histogram(f"h{i}").update(1000 + i)
        assert steps <= 1000, f"/__stats snapshot still running after {steps} steps ({stats.windows} ticks)"
    assert steps >= 100 and stats.windows >= 1  # a step a histogram: ticks came while it paused
    assert all(out[f"krakend.h{i}.count"] == 1 and out[f"krakend.h{i}.max"] == float(i) for i in range(100))


def test_a_capture_keeps_its_reservoir_through_later_folds_and_ticks() -> None:
    """The reservoirs are taken without a copy: a fold after the capture samples into a copy of its
    own (a full reservoir's values replaced in place would show in the capture's summary)."""
    stats = StatsRegistry()
    histogram = stats.histogram("a")
    histogram.pending.extend(range(1, 2001))
    capture = _captured(stats)
    (_, found, values, count) = capture.histograms[0]
    assert found is histogram and count == 2000 and len(values) == 1028
    before = list(values)
    histogram.pending.extend(range(10**6, 10**6 + 50_000))  # replaces most of a reservoir's values
    histogram.fold()
    assert histogram.values != before and values == before
    assert capture.histograms[0][2] is values
    taken = _captured(stats).histograms[0][2]
    kept = list(taken)
    stats.tick()  # a new list for the new window; the next fold samples into it, not into the capture's
    histogram.pending.extend(range(3000))
    histogram.fold()
    assert taken == kept and histogram.count == 3000 and histogram.values != kept


def _captured(stats: StatsRegistry) -> Any:
    """:meth:`StatsRegistry.capture_steps` run to its end: its capture."""
    steps = stats.capture_steps()
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


async def test_stats_body_agrees_with_itself_while_metrics_is_scraped(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Requests on 40 routes, one scraper reading ``/metrics`` (its stepped feed folds the shared
    slots) and two reading ``/__stats``, back to back: in every ``/__stats`` body a route's
    ``.size.count`` equals its ``.time.count`` (one value each per request, folded together) and its
    status counters' sum (the window is the whole run: collection_time 1h)."""
    s = await _gateway(served, upstream, routes=40)
    prom, stats_url = scrape_urls(s)
    going = True
    bad: list[tuple[str, int, int, int]] = []
    bodies = 0

    async def traffic() -> None:
        nonlocal going
        for i in range(600):
            assert (await s.client.get(f"/e{i % 40}")).status == 200
        going = False

    async def prom_scraper(http: aiohttp.ClientSession) -> None:
        while going:
            async with http.get(prom) as resp:
                await resp.read()

    async def stats_scraper(http: aiohttp.ClientSession) -> None:
        nonlocal bodies
        while going:
            async with http.get(stats_url) as resp:
                snapshot: dict[str, Any] = orjson.loads(await resp.read())
            bodies += 1
            for key, size in snapshot.items():
                if key.startswith("krakend.router.response.") and key.endswith(".size.count"):
                    route = key.removesuffix(".size.count")
                    took = snapshot[route + ".time.count"]
                    counted = sum(
                        v for k, v in snapshot.items() if k.startswith(route + ".status.") and k.endswith(".count")
                    )
                    if not size == took == counted:
                        bad.append((route, size, took, counted))

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(traffic(), prom_scraper(http), stats_scraper(http), stats_scraper(http))
    assert bodies >= 4
    assert not bad, f"{len(bad)} disagreements in {bodies} bodies, e.g. {bad[:3]}"


async def test_stats_answers_on_a_busy_gateway_with_a_short_window(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """1,000 window histograms, collection_time 1s, the loop busy 0.5 ms a turn with new values: a
    pass of one step a histogram lasts longer than a window, and ``/__stats`` answers (the branch
    under review had not after 15 s: it started over at each tick)."""
    s = await _gateway(served, upstream, routes=1, collection="1s")
    stats = _stats(s)
    histograms = []
    for i in range(500):
        for what in ("size", "time"):
            histogram = stats.histogram(f"router.response./w{i}.{what}")
            histogram.pending.extend(random.randrange(1, 10**7) for _ in range(1100))
            histograms.append(histogram)
    _, stats_url = scrape_urls(s)
    stop = False
    turns = 0

    async def busy() -> None:
        nonlocal turns
        while not stop:
            end = time.perf_counter() + 0.0005
            while time.perf_counter() < end:
                pass
            for histogram in random.sample(histograms, 5):
                histogram.add(random.randrange(1, 10**7))
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(busy())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(stats_url, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                assert resp.status == 200
                snapshot = orjson.loads(await resp.read())
    finally:
        stop = True
        await task
    assert turns >= 100 and "krakend.router.response./w0.size.count" in snapshot


def test_worker_part_keeps_one_window_through_a_tick() -> None:
    """``run -w N``'s own part: a tick after the first histogram's summary leaves the part's
    histograms, counters and gauges in the window captured (main read the window per histogram:
    the second one's came from the next window)."""
    stats = StatsRegistry()
    first, second = stats.histogram("a"), stats.histogram("b")
    for h in (first, second):
        for v in (5, 6, 7):
            h.update(v)
    census = Census()
    stats.tenure = census.tenure()
    census.hand_over(stats.tenure)
    census.opened += 2  # accepted in this window
    key = stats.counter_key("router.response./a.status.200.count")
    stats.inc(key, 3)
    out: dict[str, Any] = {}
    steps = StatsPart(stats).steps(out)
    next(steps)
    stats.tick()
    second.update(9)
    for _ in steps:
        pass
    count = HIST_KEYS.index(".count")
    assert out["h"]["krakend.a"][count] == 3 and out["h"]["krakend.b"][count] == 3
    assert out["h"]["krakend.b"][HIST_KEYS.index(".max")] == 7.0
    assert out["g"]["krakend.router.connected"] == 2 and "krakend.router.connected-gauge" not in out["g"]
    assert out["c"][key] == 3


async def test_worker_part_feeds_the_slots_in_steps(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """One request on each of 100 routes, queued on the edge's slot: the part pauses while it feeds
    them (main fed them all in one step before its first pause)."""
    s = await _gateway(served, upstream, routes=100)
    for i in range(100):
        assert (await s.client.get(f"/e{i}")).status == 200
    stats = _stats(s)

    def seen() -> int:
        sizes = [h for k, h in stats.histograms.items() if k.endswith(".size")]
        return sum(h.count + len(h.pending) for h in sizes)

    assert seen() < 100  # the rows wait on their slot (the edge folds every 1,024 requests)
    out: dict[str, Any] = {}
    steps = StatsPart(stats).steps(out)
    next(steps)
    assert seen() < 100  # paused with rows still on the slot
    for _ in steps:
        pass
    count = HIST_KEYS.index(".count")
    assert sum(v[count] for k, v in out["h"].items() if k.endswith(".size")) == 100
