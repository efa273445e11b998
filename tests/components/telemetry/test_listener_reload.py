"""The telemetry listeners with ``-w 2`` through reloads, with the real CLI: the first worker alone binds
each one (no "address already in use" from the second), and a reload hands the bound socket to the new
configuration, so a scrape during the reload is answered, by the new configuration once it serves."""

from __future__ import annotations

import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.server.process import Gateway, SlowBackend, wait_http, write_json


def _config(port: int, prom: int, stats: int, name: str) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        "extra_config": {
            "telemetry/opentelemetry": {
                "service_name": name,
                "exporters": {"prometheus": [{"name": "prom", "port": prom, "listen_ip": "127.0.0.1"}]},
            },
            "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
        },
        "endpoints": [{"endpoint": "/x", "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/x"}]}],
    }


class _Scraper(threading.Thread):
    """Scrapes ``url`` back to back until stopped; every failure is kept."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.bodies: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    self.bodies.append(resp.read().decode())
            except OSError as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self.done.set()
        self.join(10)


def test_prometheus_and_stats_listeners_bind_once_and_stay_through_reloads(tmp_path: Path) -> None:
    port, prom, stats = free_port(), free_port(), free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, prom, stats, "gw-0"))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    scrapers = [_Scraper(f"http://127.0.0.1:{prom}/metrics"), _Scraper(f"http://127.0.0.1:{stats}/__stats")]
    try:
        gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{prom}/metrics")
        wait_http(f"http://127.0.0.1:{stats}/__stats")
        for scraper in scrapers:
            scraper.start()
        for number in (1, 2, 3):
            write_json(config, _config(port, prom, stats, f"gw-{number}"))
            gateway.signal(signal.SIGHUP)
            gateway.wait_log(rf"reload {number} applied by 2/2 workers")
            # the old configuration is closed once its requests are done: then the new one answers
            wait_http(f"http://127.0.0.1:{port}/x")
            for _ in range(200):
                if f'service_name="gw-{number}"' in scrapers[0].bodies[-1]:
                    break
                threading.Event().wait(0.05)
            assert f'service_name="gw-{number}"' in scrapers[0].bodies[-1]
        for scraper in scrapers:
            scraper.stop()
            assert scraper.bodies and not scraper.failures, scraper.failures[:3]
        assert gateway.stop() == 0
    finally:
        for scraper in scrapers:
            scraper.done.set()
        gateway.kill()
    assert "cannot listen" not in gateway.log and "address already in use" not in gateway.log, gateway.log


def _slow(port: int, stats: int, backend: str, name: str) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "name": name,
        "timeout": "20s",
        "extra_config": {"telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"}},
        "endpoints": [{"endpoint": "/slow", "backend": [{"host": [backend], "url_pattern": "/sleep?s=3"}]}],
    }


def test_two_reloads_during_a_slow_request_keep_the_stats_listener(tmp_path: Path) -> None:
    """Reload 2 comes while configuration 0 still drains a request: configuration 1 retires first (it
    never held the port), then 0's bound listener goes to the gateway serving now, 2. Before: 2 found the
    port taken ("cannot listen"), and /__stats refused once 0 closed."""
    port, stats = free_port(), free_port()
    with SlowBackend() as backend:
        config = write_json(tmp_path / "krakend.json", _slow(port, stats, backend.url, "gw-0"))
        gateway = Gateway(config, "-w", "1", cwd=tmp_path)
        scraper = _Scraper(f"http://127.0.0.1:{stats}/__stats")
        try:
            gateway.worker_pids(1)
            wait_http(f"http://127.0.0.1:{stats}/__stats")
            url = f"http://127.0.0.1:{port}/slow"
            slow = threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=30).read())
            slow.start()
            threading.Event().wait(0.5)
            scraper.start()
            for number in (1, 2):
                write_json(config, _slow(port, stats, backend.url, f"gw-{number}"))
                gateway.signal(signal.SIGHUP)
                gateway.wait_log(rf"reload {number} applied")
            slow.join(30)
            threading.Event().wait(1.0)  # configuration 0 closes once its request is answered
            scraper.stop()
            assert scraper.bodies and not scraper.failures, (scraper.failures[:3], gateway.log)
            with urllib.request.urlopen(f"http://127.0.0.1:{stats}/__stats", timeout=5) as resp:
                assert resp.status == 200
            assert gateway.stop() == 0
        finally:
            scraper.done.set()
            gateway.kill()
    assert "cannot listen" not in gateway.log, gateway.log
