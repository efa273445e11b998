"""How loaded a worker is, through the real CLI: ``/__stats``' ``router.connected``/``disconnected``
keys count the gateway's client connections (they stayed 0 before: "aiohttp hides connection
events", from before krakenpy had a server of its own), and the Prometheus exporter's
``krakenpy_server_*`` gauges and counter and the event loop's lag histogram, parsed with
``prometheus_client``; the probe's own unit test stalls a loop on purpose."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from krakenpy.server.census import Census
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.metrics.saturation import LAG_BUCKETS, LoopLag
from tests.conftest import free_port
from tests.server.process import Gateway, SlowBackend, wait_http, write_json


def _config(port: int, prom: int, stats: int, backend: str) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {"prometheus": [{"name": "prom", "port": prom, "listen_ip": "127.0.0.1"}]},
            },
            "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}", "collection_time": "60s"},
        },
        "endpoints": [
            {
                "endpoint": "/slow",
                "input_query_strings": ["s"],
                "backend": [{"host": [backend], "url_pattern": "/sleep"}],
            }
        ],
    }


def _samples(prom: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("krakenpy_") and "le" not in s.labels
    }


def _stats(stats: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{stats}/__stats", timeout=5) as resp:
        found: dict[str, Any] = json.loads(resp.read())
        return found


def _connections(stats: int) -> tuple[int, int]:
    """(accepted, closed) since start: the totals of the windows ended and the current one's."""
    doc = _stats(stats)
    opened = doc["krakend.router.connected-total"] + doc["krakend.router.connected"]
    closed = doc["krakend.router.disconnected-total"] + doc["krakend.router.disconnected"]
    return opened, closed


def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_connections_requests_and_loop_lag_are_counted(tmp_path: Path) -> None:
    port, prom, stats = free_port(), free_port(), free_port()
    with SlowBackend() as backend:
        config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, backend.url))
        gateway = Gateway(config, "-w", "1", cwd=tmp_path)
        try:
            wait_http(f"http://127.0.0.1:{port}/__health")
            wait_http(f"http://127.0.0.1:{prom}/metrics")
            wait_http(f"http://127.0.0.1:{stats}/__stats")
            _until(lambda: _samples(prom)["krakenpy_server_open_connections"] == 0, "health checks closed")
            opened, closed = _connections(stats)
            accepted = _samples(prom)["krakenpy_server_connections_total"]
            assert opened == accepted and opened >= 1 and closed == opened  # wait_http's own

            # three requests on connections of their own (urllib closes each)
            for _ in range(3):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/slow?s=0", timeout=10) as resp:
                    assert resp.status == 200
            _until(lambda: _connections(stats) == (opened + 3, closed + 3), "three connections counted")
            assert _samples(prom)["krakenpy_server_connections_total"] == accepted + 3

            # two connections held open, one of them waiting for a slow answer
            idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            idle.connect()
            busy = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            answered: list[int] = []

            def slow() -> None:
                busy.request("GET", "/slow?s=1.5")
                answered.append(busy.getresponse().status)

            waiter = threading.Thread(target=slow)
            waiter.start()
            _until(
                lambda: (
                    (
                        _samples(prom)["krakenpy_server_open_connections"],
                        _samples(prom)["krakenpy_server_active_requests"],
                    )
                    == (2, 1)
                ),
                "two open connections, one answering",
            )
            waiter.join(10)
            assert answered == [200]
            _until(lambda: _samples(prom)["krakenpy_server_active_requests"] == 0, "answered")
            idle.close()
            busy.close()
            _until(lambda: _samples(prom)["krakenpy_server_open_connections"] == 0, "both closed")
            _until(lambda: _connections(stats) == (opened + 5, closed + 5), "five connections counted")

            lag = _samples(prom)
            assert lag["krakenpy_event_loop_lag_seconds_count"] >= 4  # every 0.25 s, for seconds now
            assert 0 <= lag["krakenpy_event_loop_lag_seconds_sum"] < lag["krakenpy_event_loop_lag_seconds_count"]

            # a reload: the new configuration counts from the hand-over, the retired one's kept
            held = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # open across the reload
            held.request("GET", "/slow?s=0")
            assert held.getresponse().read()
            doc = _config(port, prom, stats, backend.url)
            doc["name"] = "reloaded"
            write_json(config, doc)
            gateway.signal(signal.SIGHUP)
            gateway.wait_log(r"reload 1 applied by 1/1 workers")
            time.sleep(1.0)  # the old configuration retired
            for _ in range(2):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/slow?s=0", timeout=10) as resp:
                    assert resp.status == 200
            held.close()
            _until(lambda: _connections(stats) == (opened + 8, closed + 8), "eight connections, each once")
            _until(lambda: _samples(prom)["krakenpy_server_connections_total"] == accepted + 8, "counted once")
            assert gateway.stop() == 0
        finally:
            gateway.kill()


def test_a_draining_configuration_does_not_double_the_gauges(tmp_path: Path) -> None:
    """A reload while a slow request runs: the old configuration drains it and stays a live source
    of ``/metrics`` meanwhile; it read the process's gauges too, summed with the new one's (2 for 1)."""
    port, prom, stats = free_port(), free_port(), free_port()
    with SlowBackend() as backend:
        first = {**_config(port, prom, stats, backend.url), "timeout": "10s"}
        config = write_json(tmp_path / "krakend.json", first)
        gateway = Gateway(config, "-w", "1", cwd=tmp_path)
        try:
            wait_http(f"http://127.0.0.1:{port}/__health")
            wait_http(f"http://127.0.0.1:{prom}/metrics")
            busy = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            answered: list[int] = []

            def slow() -> None:
                busy.request("GET", "/slow?s=4")
                answered.append(busy.getresponse().status)

            waiter = threading.Thread(target=slow)
            waiter.start()
            _until(lambda: _samples(prom)["krakenpy_server_active_requests"] == 1, "the slow request runs")
            write_json(config, {**first, "name": "reloaded"})
            gateway.signal(signal.SIGHUP)
            gateway.wait_log(r"reload 1 applied by 1/1 workers")
            during = _samples(prom)  # the old configuration still drains the slow request
            assert (during["krakenpy_server_open_connections"], during["krakenpy_server_active_requests"]) == (1, 1)
            waiter.join(15)
            assert answered == [200]
            busy.close()
            assert gateway.stop() == 0
        finally:
            gateway.kill()


async def test_the_lag_probe_sees_a_stalled_loop() -> None:
    registry = Registry()
    histogram = registry.family("lag", "histogram", (), unit="s", buckets=LAG_BUCKETS).histogram()
    probe = LoopLag(histogram, period=0.05)
    await probe.start()
    await asyncio.sleep(0.2)  # a few samples on an idle loop
    quiet = histogram.count
    time.sleep(0.3)  # a blocking call on the loop: the timer due meanwhile runs ~0.25 s late
    await asyncio.sleep(0.12)
    await probe.stop()
    count = histogram.count
    await asyncio.sleep(0.1)
    assert histogram.count == count  # stopped
    assert quiet >= 2
    late = sum(histogram.buckets[LAG_BUCKETS.index(0.25) :])  # samples over 0.1 s
    assert late == 1, histogram.buckets
    assert histogram.sum >= 0.2


def test_tenures_count_each_connection_once() -> None:
    """A reload's new configuration begins serving while the old one drains: each counts its own
    span (counted from the process's start, the retired one's kept counts and the new one's summed
    twice what both saw)."""
    census = Census()
    old, new = census.tenure(), census.tenure()
    census.opened += 4  # before any configuration serves
    census.hand_over(old)
    census.opened, census.closed = census.opened + 2, census.closed + 1
    census.hand_over(new)  # the reload's hand-over
    census.opened, census.closed = census.opened + 3, census.closed + 3
    census.retire(old)  # the old one's close, after its drain
    census.opened += 1
    assert (old.opened(), old.closed(), new.opened(), new.closed()) == (2, 1, 4, 3)
    census.retire(new)
    census.opened += 5
    assert new.opened() == 4 and census.tenure().opened() == 0  # ended; never begun


async def test_a_reloads_swap_hands_the_connection_count_over_at_once() -> None:
    """A reload's server swaps to the new gateway, which starts (its services) only once the old one
    has drained and closed (an OTLP flush to a collector that does not answer: 10 s): the connections
    in between were the old one's, counted by nobody once it ended. The swap hands them over."""
    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway
    from krakenpy.server.census import CENSUS
    from krakenpy.telemetry.hub import HUB

    doc = {"version": 3, "extra_config": {"telemetry/metrics": {"listen_address": "127.0.0.1:0"}}, "endpoints": []}
    old, new = await build_gateway(build_service(doc)), await build_gateway(build_service(doc))
    old_tenure, new_tenure = (g.resources.state.get(HUB).tenure for g in (old, new))
    assert old_tenure is not None and new_tenure is not None
    try:
        await old_tenure.begin()  # the first gateway's start
        CENSUS.opened += 2
        new.swapped()  # the reload's swap
        CENSUS.opened += 3  # while the old one drains and closes
        await old_tenure.end()
        assert (old_tenure.opened(), new_tenure.opened()) == (2, 3)
        assert new_tenure.serving and not old_tenure.serving  # the gauges: the new one's alone
    finally:
        await new_tenure.end()
        await old.close()
        await new.close()
