"""Per-request cost of the telemetry layers, in process (no network), and the loop stall of a
``/metrics`` scrape.

    .venv/bin/python -m bench.telemetry_overhead [--n 20000]
    .venv/bin/python -m bench.telemetry_overhead --instructions [--only 0,1,4]

Each configuration builds a real gateway whose one backend is a static upstream client (answers at
once, no socket), then times N requests through the edge handler: the difference between rows is
what the telemetry adds per request (µs, best of 5 rounds). The scrape row renders a registry of
200 histogram series and reports the longest time the event loop was held between two yields.

``--scrape-p99`` serves a gateway on loopback (the worker's server, a static upstream) with a
Prometheus exporter holding 200 more histogram series, and times ``--n`` requests on one connection
alone and then while a second client scrapes ``/metrics`` back to back (each scrape's series given
values to fold first): the issue's budget is a request's p99 delayed by at most 2 ms.

``--served-holds`` serves a gateway's ``/metrics`` with each ``--scrape-series`` count of histogram
series and its ``/__stats`` with ``--stats-endpoints`` endpoints' full window histograms, scrapes each
with a child process and reports the longest CPU time the loop was held between two turns, the
response's writing included (the issue's budget: 2 ms).

``--influx-holds`` pushes the ``/__stats`` collector to an InfluxDB stand-in (a child process on
127.0.0.1 answering 204) with ``InfluxPusher.push``, ``--stats-endpoints`` endpoints' full window
histograms (size and time, 2,000 new queued values in each before every push), and reports the
longest CPU time the loop was held between two turns during one push, best of ``--rounds`` pushes.

``--workers 2 4`` measures ``run -w N``'s sharing: a worker's tick (its snapshot of 200 histogram
series, or of each ``--workers-series`` count, written to the run directory; and its longest step)
and a ``/metrics`` scrape merging N workers' snapshots (the longest CPU time the loop was held, as
the scrape row); and the same for ``/__stats`` with 100 full
window histograms.

``--instructions`` counts machine instructions per request instead, with valgrind's callgrind (a busy
machine does not move them): each configuration runs twice in a child under callgrind, with
``--short`` and ``--long`` requests, and the difference divided by the difference in requests is one
request's cost (start-up and warm-up cancel out). ``--only`` takes indexes into :data:`CONFIGS`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.backends.client import UpstreamResponse
from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest
from krakenpy.gateway import build_gateway
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.writer import _STDOUT, LineWriter

_BODY = b'{"id":1,"name":"ada","email":"a@example.com","tags":["x","y"]}'
_TRACE_OFF = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


class _Static:
    """An upstream client that answers at once: the network is not what is measured here."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        follow_redirects: bool = True,
    ) -> UpstreamResponse:
        return UpstreamResponse(200, (("Content-Type", "application/json"),), _BODY, "application/json")

    async def close(self) -> None:
        return None


def _doc(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 3,
        "extra_config": extra,
        "endpoints": [
            {
                "endpoint": "/p1/{id}",
                "backend": [{"host": ["http://127.0.0.1:18080"], "url_pattern": "/small.json", "deny": ["email"]}],
            }
        ],
    }


OTLP_DEAD = {"otlp": [{"name": "null", "host": "127.0.0.1", "port": 9, "use_http": True}]}
OTLP_TRACES = {"otlp": [{"name": "null", "host": "127.0.0.1", "port": 9, "use_http": True, "disable_metrics": True}]}
CONFIGS: dict[str, dict[str, Any]] = {
    "telemetry off (no access log, no request id)": {
        "router": {"disable_access_log": True},
        "telemetry/access_log": {"request_id_header": ""},
    },
    "default: access log (gin) + request id": {},
    "access log (json) + request id": {"telemetry/access_log": {"format": "json"}},
    "access log + /__stats + Prometheus metrics": {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0"},
        "telemetry/opentelemetry": {"exporters": {"prometheus": [{"name": "p", "port": 1}]}},
    },
    "access log + traces, unsampled (rate 0.5, caller sampled=0)": {
        "telemetry/opentelemetry": {"trace_sample_rate": 0.5, "exporters": OTLP_DEAD},
    },
    "access log + traces, 100 % sampled": {"telemetry/opentelemetry": {"exporters": OTLP_DEAD}},
    "access log + opencensus views, Prometheus (corpus 023)": {
        "telemetry/opencensus": {
            "sample_rate": 10,
            "enabled_layers": {"backend": True, "router": True},
            "exporters": {"prometheus": {"port": 1, "namespace": "krakend", "tag_path": True, "tag_method": True}},
        }
    },
    "access log + opencensus spans to Jaeger, 100 % (corpus 001)": {
        "telemetry/opencensus": {
            "sample_rate": 100,
            "enabled_layers": {"backend": True, "router": True},
            "exporters": {"jaeger": {"endpoint": "http://127.0.0.1:9/api/traces", "service_name": "krakend"}},
        }
    },
    # traces without OTel metrics: what an unsampled request costs by itself (budget: 5 µs over the default)
    "access log + traces only (no OTel metrics), unsampled": {
        "telemetry/opentelemetry": {"trace_sample_rate": 0.5, "exporters": OTLP_TRACES},
    },
    "access log + traces only (no OTel metrics), 100 % sampled": {
        "telemetry/opentelemetry": {"exporters": OTLP_TRACES}
    },
}


async def _gateway(extra: dict[str, Any]) -> Any:
    return await build_gateway(build_service(_doc(extra)), client=_Static())  # type: ignore[arg-type]


async def _round(gateway: Any, n: int) -> float:
    """CPU µs per request (process time: other load on a shared machine does not count)."""
    headers = CIMultiDictProxy(CIMultiDict({"User-Agent": "bench", "traceparent": _TRACE_OFF, "Host": "gw"}))
    edge = gateway.edge
    start = time.process_time()
    for i in range(n):
        response = await edge(HttpRequest("GET", "/p1/1", "a=1", headers, remote="127.0.0.1", host="gw"))
        assert response.status == 200, response.body
        if i % 256 == 0:
            await asyncio.sleep(0)  # let batched writes and exporters run, as a server would
    return (time.process_time() - start) / n * 1e6


async def _scrape_stall(series: int) -> tuple[float, float]:
    # imported here: the trees before branch ``scrape`` have no prometheus_scrape, and the other
    # modes (--served-holds: public parts only) run on them too
    from krakenpy.telemetry.servers import prometheus_scrape

    registry = Registry()
    family = registry.family("http.server.duration", "histogram", ["http.request.method", "http.route", "code"])
    hists = [family.histogram("GET", f"/route/{i}", "200") for i in range(series)]
    for h in hists:
        h.observe(0.05)
    # the first scrape also builds each series' fixed line parts; the second is the steady state
    await prometheus_scrape(registry, scope='otel_scope_name="x"', target_info="", process=True, runtime=True)
    for h in hists:  # values queued since the last fold (the edge folds every 1,024 requests)
        h.pending.extend((0.004, 0.03, 0.2))
    # and the edge's rows since its last fold (at most 1,024), over 100 routes and two statuses:
    # the scrape folds them into their series first (the slots' worst case: rows of mixed keys;
    # their series in a registry of their own, so the rendered text stays the 200 series')
    from krakenpy.telemetry.layers.edge import route_label
    from krakenpy.telemetry.metrics.instruments import ServerMetrics
    from krakenpy.telemetry.metrics.slots import EdgeSlot

    edge = EdgeSlot(ServerMetrics(Registry()), None, route_label)
    registry.feeders.append(lambda least: edge.drain())
    registry.feed_steps.append(edge.steps)
    rows = [(f"/route/{i % 100}", "GET", "http", 500 if i % 7 == 0 else 200, 1_000_000 + i, 200, True)
            for i in range(1023)]  # fmt: skip
    for row in rows:
        edge.record(*row)
    edge.drain()  # their series made (the steady state: a gateway has seen its routes)
    for row in rows:
        edge.record(*row)
    # what the listener writes a piece at a time (the socket's part: --served-holds)
    scrape = prometheus_scrape(registry, scope='otel_scope_name="x"', target_info="", process=False, runtime=True)
    scraped, total, longest = await _timed_hold(scrape)
    assert scraped.size
    return total * 1e3, longest * 1e3


def _filled(series: int) -> Registry:
    """A registry of ``series`` histogram series, each with a value counted and three queued."""
    registry = Registry()
    family = registry.family("http.server.duration", "histogram", ["http.request.method", "http.route", "code"])
    for i in range(series):
        h = family.histogram("GET", f"/route/{i}", "200")
        h.observe(0.05)
        h.pending.extend((0.004, 0.03, 0.2))
    return registry


async def _workers_scrape(series: int, workers: int) -> tuple[float, float, float, float]:
    """``run -w N``: one worker's tick (its snapshot of ``series`` histogram series written, µs CPU,
    median of 50, and its longest step between two yields, µs, median of 50), and a scrape merging
    ``workers`` snapshots of as many series each (the serving worker's written at the scrape, the
    others' read from their files): ms CPU in all, and the longest CPU time between two loop turns
    (steady state: the second scrape)."""
    from krakenpy.telemetry.metrics.shared import Publisher, prom_part
    from krakenpy.telemetry.servers import workers_prometheus_scrape
    from krakenpy.telemetry.setup import registry_part, registry_steps

    with tempfile.TemporaryDirectory(
        prefix="krakenpy-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    ) as run:
        for k in range(workers - 1):  # the other workers' latest snapshots, as each writes them at its tick
            other = Publisher(run, k + 2, pid=10_000_000 + k)
            registry = _filled(series)
            other.add("prom:otel", lambda r=registry: prom_part(r))  # type: ignore[misc]
            other.write()
        own = Publisher(run, 1)
        registry = _filled(series)
        own.add("prom:otel", registry_part(registry), registry_steps(registry))  # the tick's, in steps
        ticks, steps = [], []
        for _ in range(50):
            for family in registry.families():
                for _, h in family.items():
                    h.pending.extend((0.004, 0.03, 0.2))  # type: ignore[union-attr]
            start = last = time.process_time()
            step = 0.0
            for _ in own.write_steps({}):
                now = time.process_time()
                step, last = max(step, now - last), now
            now = time.process_time()
            ticks.append(now - start)
            steps.append(max(step, now - last))
        tick = sorted(ticks)[len(ticks) // 2] * 1e6
        tick_step = sorted(steps)[len(steps) // 2] * 1e6
        scope = 'otel_scope_name="x"'
        await workers_prometheus_scrape(
            own, "prom:otel", registry, scope=scope, target_info="", process=False, runtime=True
        )
        # what the listener writes a piece at a time (the socket's part: --served-holds)
        merged = workers_prometheus_scrape(
            own, "prom:otel", registry, scope=scope, target_info="", process=False, runtime=True
        )
        scraped, total, longest = await _timed_hold(merged)
        assert scraped.body().count(b"_count{") == series
    return tick, tick_step, total * 1e3, longest * 1e3


def _workers_stats(endpoints: int, workers: int) -> tuple[float, float, float, float]:
    """``run -w N``'s ``/__stats``: one worker's tick with ``endpoints`` endpoints' full window
    histograms (size and time, 1,028 values each, 50 new ones each between two ticks: every summary
    made again: the summaries are due, every ``SUMMARY_PERIOD``), µs CPU in all and its longest step,
    and a tick between two such (the summaries kept), median of 20; and a scrape merging ``workers``
    such snapshots (summaries due), ms CPU, median of 20."""
    import random

    from krakenpy.telemetry.metrics.shared import Publisher, StatsPart
    from krakenpy.telemetry.metrics.stats import StatsRegistry
    from krakenpy.telemetry.servers import workers_expvar_body

    def filled() -> StatsRegistry:
        stats = StatsRegistry()
        for i in range(endpoints):
            stats.inc(stats.counter_key(f"router.response./e{i}.status.200.count"), 5000)
            for what in ("size", "time"):
                stats.histogram(f"router.response./e{i}.{what}").pending.extend(
                    random.randrange(1, 10**7) for _ in range(5000)
                )
        return stats

    def traffic(stats: StatsRegistry) -> None:
        for histogram in stats.histograms.values():
            histogram.pending.extend(random.randrange(1, 10**7) for _ in range(50))

    if workers == 1:  # the -w 1 scrape: one snapshot in one step (every summary made again)
        from krakenpy.telemetry.servers import expvar_body

        stats = filled()
        took = []
        for _ in range(20):
            traffic(stats)
            start = time.process_time()
            expvar_body(stats)
            took.append(time.process_time() - start)
        return 0.0, 0.0, 0.0, sorted(took)[10] * 1e3
    with tempfile.TemporaryDirectory(
        prefix="krakenpy-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    ) as run:
        for k in range(workers - 1):
            other = Publisher(run, k + 2, pid=10_000_000 + k)
            part = StatsPart(filled())
            other.add("stats", part, part.steps)
            other.write()
        own = Publisher(run, 1)
        stats = filled()
        part = StatsPart(stats)
        own.add("stats", part, part.steps)
        ticks, steps, scrapes, quiet, stalls = [], [], [], [], []
        for _ in range(20):
            traffic(stats)
            start = time.process_time()
            own.write()  # within SUMMARY_PERIOD of the last: the summaries kept, counters written
            quiet.append(time.process_time() - start)
            part._summarized = -1e9  # the summaries due
            longest = 0.0
            start = last = time.process_time()
            for _ in own.write_steps({}):
                now = time.process_time()
                longest, last = max(longest, now - last), now
            ticks.append(time.process_time() - start)
            steps.append(max(longest, time.process_time() - last))
            traffic(stats)
            part._summarized = -1e9
            start = time.process_time()
            stalls.append(asyncio.run(_held(workers_expvar_body(own))))
            scrapes.append(time.process_time() - start)
    print(f"  /__stats scrape: at most {sorted(stalls)[10] * 1e3:.2f} ms CPU between two loop turns (median of 20)")
    return sorted(ticks)[10] * 1e6, sorted(steps)[10] * 1e6, sorted(quiet)[10] * 1e6, sorted(scrapes)[10] * 1e3


async def _held(work: Any) -> float:
    """The longest CPU time between two loop turns while ``work`` (a coroutine) runs."""
    return (await _timed_hold(work))[2]


async def _timed_hold(work: Any) -> tuple[Any, float, float]:
    """``work``'s (a coroutine) result, the CPU seconds it took and the longest CPU time between two
    loop turns while it ran (CPU time, not wall time: on a shared machine wall gaps mostly measure
    other processes)."""
    longest = 0.0
    done = False

    async def watch() -> None:
        nonlocal longest
        last = time.process_time()
        while not done:
            await asyncio.sleep(0)
            now = time.process_time()
            longest = max(longest, now - last)
            last = now

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    start = time.process_time()
    result = await work
    total = time.process_time() - start
    done = True
    await watcher
    return result, total, longest


_FETCH = "import sys, urllib.request; sys.stdout.write(str(len(urllib.request.urlopen(sys.argv[1]).read())))"


async def _fetch(url: str) -> int:
    """The body length of a GET of ``url`` by a child process (its CPU is not this process')."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", _FETCH, url, stdout=subprocess.PIPE)
    out, _ = await child.communicate()
    assert child.returncode == 0
    return int(out)


_INFLUX = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        self.rfile.read(int(self.headers.get('Content-Length') or 0))\n"
    "        self.send_response(204); self.end_headers()\n"
    "    def log_message(self, *a): pass\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "print(s.server_address[1], flush=True)\n"
    "s.serve_forever()\n"
)


async def _influx_holds(endpoints: int, rounds: int) -> None:
    """``--influx-holds``: the loop's longest hold during one Influx push (see the module's text).
    Only public parts are used (the pusher, the collector): the same code measures any tree."""
    import random

    from krakenpy.telemetry.influx import InfluxOptions, InfluxPusher
    from krakenpy.telemetry.metrics.stats import StatsRegistry

    child = await asyncio.create_subprocess_exec(sys.executable, "-c", _INFLUX, stdout=subprocess.PIPE)
    assert child.stdout is not None
    port = int(await child.stdout.readline())
    rng = random.Random(13)
    stats = StatsRegistry()
    pusher = InfluxPusher(InfluxOptions(address=f"http://127.0.0.1:{port}", ttl=3600.0), stats)
    await pusher.start()
    holds = []
    try:
        for i in range(rounds + 1):
            for e in range(endpoints):
                for what in ("size", "time"):
                    stats.histogram(f"router.response./w{e}.{what}").pending.extend(
                        rng.randrange(1, 10**7) for _ in range(2000)
                    )
            _, _, longest = await _timed_hold(pusher.push())
            if i:  # the first opens the connection
                holds.append(longest)
        assert pusher.sent == rounds + 1, pusher.sent
    finally:
        await pusher.stop()
        child.kill()
        await child.wait()
    print(
        f"influx push, {endpoints} endpoints ({2 * endpoints} full window histograms): at most "
        f"{min(holds) * 1e3:.2f} ms CPU between two loop turns (best of {rounds}; "
        f"median {sorted(holds)[rounds // 2] * 1e3:.2f} ms)",
        flush=True,
    )


async def _served_holds(series: list[int], endpoints: int, rounds: int) -> None:
    """A served gateway's ``/metrics`` (an OpenTelemetry Prometheus exporter holding each count of
    histogram series, three values queued on each before every scrape) and ``/__stats`` (``endpoints``
    endpoints' full window histograms, 50 new values in each before every scrape), each scraped by a
    child process through the listener: the longest CPU time the loop was held between two turns
    (the response written included), median of ``rounds`` after one warm-up scrape (this process'
    CPU in all is not shown: it counts spawning the child). Only public parts of the gateway are
    used: the same code measures any tree."""
    import random

    from bench.instructions import _free_port
    from krakenpy.telemetry.hub import HUB
    from krakenpy.telemetry.servers import PROM_LISTENERS, STATS_LISTENER

    exporter = {"name": "p", "port": _free_port(), "listen_ip": "127.0.0.1", "process_metrics": False}
    extra = {
        "telemetry/metrics": {"listen_address": f"127.0.0.1:{_free_port()}", "collection_time": "1h"},
        "telemetry/opentelemetry": {"exporters": {"prometheus": [exporter]}},
    }
    gateway = await _gateway(extra)
    await gateway.start()
    hub = gateway.resources.state[HUB]
    prom = f"http://127.0.0.1:{gateway.resources.state[PROM_LISTENERS][0].bound_port}/metrics"
    stats_url = f"http://127.0.0.1:{gateway.resources.state[STATS_LISTENER].bound_port}/__stats"

    async def measure(url: str, before: Any) -> tuple[float, int]:
        holds = []
        size = 0
        for i in range(rounds + 1):
            before()
            size, _, longest = await _timed_hold(_fetch(url))
            if i:  # the first builds the series' fixed line parts
                holds.append(longest)
        return sorted(holds)[rounds // 2] * 1e3, size

    family = hub.registry.family("bench.filler", "histogram", ["i"])
    made = 0
    for count in series:
        for i in range(made, count):
            family.histogram(str(i)).observe(0.05)
        made = count
        fillers = [family.histogram(str(i)) for i in range(count)]

        def queue(fillers: list[Any] = fillers) -> None:
            for h in fillers:
                h.pending.extend((0.004, 0.03, 0.2))

        hold, size = await measure(prom, queue)
        print(
            f"served /metrics, {count} histogram series ({size / 1e6:.1f} MB): at most {hold:.2f} ms CPU "
            f"between two loop turns (median of {rounds})",
            flush=True,
        )
    stats = hub.stats
    for i in range(endpoints):
        for what in ("size", "time"):
            stats.histogram(f"router.response./e{i}.{what}").pending.extend(
                random.randrange(1, 10**7) for _ in range(5000)
            )

    def traffic() -> None:
        for histogram in stats.histograms.values():
            histogram.pending.extend(random.randrange(1, 10**7) for _ in range(50))

    hold, size = await measure(stats_url, traffic)
    print(
        f"served /__stats, {len(stats.histograms)} full window histograms ({size / 1e3:.0f} kB): at most "
        f"{hold:.2f} ms CPU between two loop turns (median of {rounds})",
        flush=True,
    )
    if hasattr(stats, "capture_steps"):  # a tree with the capture (branch ``scrapefix``): its one step
        captures = []
        for _ in range(rounds):
            traffic()
            captures.append(_capture_step(stats))
        print(
            f"  its capture step (counters, gauges, {len(stats.histograms)} reservoirs taken): "
            f"{sorted(captures)[rounds // 2] * 1e3:.2f} ms CPU (median of {rounds})",
            flush=True,
        )
    await gateway.close()


def _capture_step(stats: Any) -> float:
    """The CPU seconds of the last step of ``stats.capture_steps()`` (the one that takes the
    reservoirs, after the stepped feed and fold): the scrape's pauses are left out."""
    steps = stats.capture_steps()
    while True:
        start = time.process_time()
        try:
            next(steps)
        except StopIteration:
            return time.process_time() - start


async def _scrape_p99(series: int, n: int, workers: int = 1) -> None:
    """p50/p99/max of a request's wall time alone and during back-to-back ``/metrics`` scrapes; with
    ``workers`` above 1, as the serving worker of ``run -w N``: the scrape merges its snapshot with
    ``workers - 1`` stand-ins' files of as many series."""
    if workers > 1:
        from krakenpy.telemetry.metrics import shared

        run = tempfile.mkdtemp(prefix="krakenpy-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        for k in range(workers - 1):
            other = shared.Publisher(run, k + 2, pid=10_000_000 + k)
            registry = _filled(2 * series)  # the filler's series and about as many of the gateway's
            other.add("prom:otel", lambda r=registry: shared.prom_part(r))  # type: ignore[misc]
            other.write()
        from krakenpy.server import rundir

        rundir.enter(run, 1)
    import aiohttp

    from bench.instructions import _Client, _free_port
    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer
    from krakenpy.telemetry.hub import HUB

    port = _free_port()
    exporter = {"name": "p", "port": port, "listen_ip": "127.0.0.1"}
    gateway = await _gateway({"telemetry/opentelemetry": {"exporters": {"prometheus": [exporter]}}})
    await gateway.start()
    family = gateway.resources.state[HUB].registry.family("bench.filler", "histogram", ["i"])
    fillers = [family.histogram(str(i)) for i in range(series)]
    server = GatewayServer(gateway.edge, limits=ServerLimits())
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", 0)
    client = _Client(*await asyncio.open_connection("127.0.0.1", listener.sockets[0].getsockname()[1]))
    scraping = False
    scrapes = 0

    async def scrape(session: aiohttp.ClientSession) -> None:
        nonlocal scrapes
        while scraping:
            for h in fillers:  # what a scrape interval's traffic leaves to fold (the edge folds every 1,024)
                h.pending.extend((0.004, 0.03, 0.2))
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and len(await resp.read()) > series * 1000
            scrapes += 1

    async def timed() -> list[float]:
        took = []
        for _ in range(n):
            start = time.perf_counter()
            assert await client.get("/p1/1", {}) == 200
            took.append((time.perf_counter() - start) * 1e3)
        return sorted(took)

    await timed()  # warm-up
    rows = {"alone": await timed()}
    async with aiohttp.ClientSession() as session:
        scraping = True
        task = loop.create_task(scrape(session))
        rows["while scraping"] = await timed()
        scraping = False
        await task
    client.writer.close()
    listener.close()
    await server.drain(1.0)
    await gateway.close()
    if workers > 1:
        import shutil

        shutil.rmtree(run)
    print(f"{n} requests, 1 connection, {series} extra histogram series, {workers} worker(s) ({scrapes} scrapes):")
    for label, took in rows.items():
        p50, p99 = took[len(took) // 2], took[int(len(took) * 0.99)]
        print(f"  {label:15} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {took[-1]:6.2f} ms")


async def main_async(n: int, rounds: int) -> None:
    # the access log goes to a file here: a terminal would measure the terminal
    sink = tempfile.NamedTemporaryFile(prefix="krakenpy-bench-", suffix=".log", delete=False)
    fd = os.open(sink.name, os.O_WRONLY | os.O_APPEND)
    _STDOUT[sys.stdout.fileno()] = LineWriter(fd, name="bench")
    gateways = {label: await _gateway(extra) for label, extra in CONFIGS.items()}
    best = {label: float("inf") for label in CONFIGS}
    for _ in range(rounds):  # interleaved: drift hits every configuration alike
        for label, gateway in gateways.items():
            best[label] = min(best[label], await _round(gateway, n))
    for gateway in gateways.values():
        await gateway.close()
    base = best[next(iter(CONFIGS))]
    print(f"{'configuration':62} {'CPU µs/req':>10} {'+µs':>7}")
    for label, us in best.items():
        print(f"{label:62} {us:10.2f} {us - base:+7.2f}")
    total, stall = await _scrape_stall(200)
    print(
        f"\n/metrics, 200 histogram series (steady state): {total:.2f} ms CPU in all, "
        f"at most {stall:.2f} ms CPU between two loop turns"
    )
    os.close(fd)
    os.unlink(sink.name)


async def _drive(index: int, n: int, flag: str) -> None:
    """The child of ``--instructions``: one configuration, 200 warm-up requests uncounted, then
    ``flag``.ready, a wait for ``flag`` (the parent switched callgrind's instrumentation on), ``n``."""
    _STDOUT[sys.stdout.fileno()] = LineWriter(os.open(os.devnull, os.O_WRONLY), name="bench")
    gateway = await _gateway(list(CONFIGS.values())[index])
    await _round(gateway, 200)
    with open(flag + ".ready", "w"):
        pass
    while not os.path.exists(flag):
        time.sleep(0.01)
    await _round(gateway, n)
    await gateway.close()


def _count(index: int, n: int) -> int:
    """Instructions of ``n`` requests (plus a constant: the wait and the exit), start-up not
    instrumented (``--instr-atstart=no``, switched on by ``callgrind_control`` for this child only)."""
    with tempfile.TemporaryDirectory() as tmp:
        flag = f"{tmp}/go"
        child = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, "-m", "bench.telemetry_overhead", "--drive", str(index), str(n), flag],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        while not os.path.exists(flag + ".ready"):
            if child.poll() is not None:
                raise RuntimeError(child.stderr.read()[-2000:] if child.stderr else "child failed")
            time.sleep(0.1)
        subprocess.run(["callgrind_control", "-i", "on", str(child.pid)], check=True, capture_output=True)
        with open(flag, "w"):
            pass
        _, err = child.communicate()
    match = re.search(r"Collected : (\d+)", err)
    if match is None:
        raise RuntimeError(err[-2000:])
    return int(match[1])


def instructions(only: list[int], short: int, long: int) -> None:
    """Instructions per request of each configuration in ``only`` (callgrind, difference of two runs)."""
    labels = list(CONFIGS)
    base = None
    print(f"{'configuration':62} {'k instr/req':>11} {'+k':>7}", flush=True)
    for index in only:
        per = (_count(index, long) - _count(index, short)) / (long - short) / 1000
        if index == 0:
            base = per
        added = f"{per - base:+7.1f}" if base is not None else ""
        print(f"{labels[index]:62} {per:11.1f} {added}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--only", default="", help="comma-separated indexes into CONFIGS (--instructions)")
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=1100)
    parser.add_argument("--scrape-p99", action="store_true", help="a request's p99 during /metrics scrapes (--n)")
    parser.add_argument(
        "--workers", type=int, nargs="*", help="run -w N: a worker's tick and a scrape merging N snapshots"
    )
    parser.add_argument(
        "--workers-series", type=int, nargs="+", default=[200], help="--workers: histogram series per snapshot"
    )
    parser.add_argument("--scrape-workers", type=int, default=1, help="--scrape-p99 as the serving worker of -w N")
    parser.add_argument(
        "--served-holds", action="store_true", help="the loop's longest hold in served /metrics and /__stats scrapes"
    )
    parser.add_argument(
        "--scrape-series", type=int, nargs="+", default=[200], help="--served-holds, --scrape-p99: histogram series"
    )
    parser.add_argument(
        "--influx-holds", action="store_true", help="the loop's longest hold during an Influx push of /__stats"
    )
    parser.add_argument(
        "--stats-endpoints", type=int, default=50, help="--served-holds, --influx-holds: two window histograms each"
    )
    parser.add_argument("--drive", nargs=3, metavar=("INDEX", "N", "FLAG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        asyncio.run(_drive(int(args.drive[0]), int(args.drive[1]), args.drive[2]))
    elif args.workers:
        total, stall = asyncio.run(_scrape_stall(200))
        print(
            f"-w 1 (the scrape row): /metrics {total:.2f} ms CPU in all, at most {stall:.2f} ms between two loop turns"
        )
        print(f"-w 1: /__stats of 50 endpoints (100 full window histograms): {_workers_stats(50, 1)[3]:.2f} ms CPU")
        for workers in args.workers:
            for series in args.workers_series:
                tick, step, total, stall = asyncio.run(_workers_scrape(series, workers))
                print(
                    f"-w {workers}: tick {tick:.0f} µs CPU (longest step {step:.0f} µs); /metrics merging "
                    f"{workers} snapshots of {series} series: {total:.2f} ms CPU in all, at most {stall:.2f} ms "
                    "CPU between two loop turns"
                )
            tick, step, quiet, total = _workers_stats(50, workers)
            print(
                f"-w {workers}: /__stats of 50 endpoints (100 full window histograms): tick {tick:.0f} µs CPU "
                f"with the summaries due (longest step {step:.0f} µs), {quiet:.0f} µs between; "
                f"scrape merging {workers} snapshots {total:.2f} ms CPU"
            )
    elif args.influx_holds:
        asyncio.run(_influx_holds(args.stats_endpoints, args.rounds))
    elif args.served_holds:
        _STDOUT[sys.stdout.fileno()] = LineWriter(os.open(os.devnull, os.O_WRONLY), name="bench")
        asyncio.run(_served_holds(args.scrape_series, args.stats_endpoints, args.rounds))
    elif args.scrape_p99:
        _STDOUT[sys.stdout.fileno()] = LineWriter(os.open(os.devnull, os.O_WRONLY), name="bench")
        for series in args.scrape_series:
            asyncio.run(_scrape_p99(series, args.n, args.scrape_workers))
    elif args.instructions:
        only = [int(i) for i in args.only.split(",")] if args.only else list(range(len(CONFIGS)))
        instructions(only, args.short, args.long)
    else:
        asyncio.run(main_async(args.n, args.rounds))


if __name__ == "__main__":
    main()
