"""The telemetry listeners (``/__stats``, the OpenTelemetry and OpenCensus Prometheus exporters) of the
real CLI listen before the gateway's port answers: a scrape right after the first ``/__health`` answer
is never refused, with one worker or several (the other workers wait for the first's listeners)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.server.process import Gateway, write_json

#: starts per case: on the branch without the fix, the scrape was refused in most starts
_STARTS = 4


def _config(port: int, stats: int, prom: int, census: int) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {"prometheus": [{"name": "prom", "port": prom, "listen_ip": "127.0.0.1"}]},
            },
            "telemetry/opencensus": {"exporters": {"prometheus": {"port": census}}},
            "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
        },
        "endpoints": [{"endpoint": "/x", "backend": [{"host": [f"127.0.0.1:{free_port()}"], "url_pattern": "/x"}]}],
    }


def _health(port: int, gateway: Gateway) -> None:
    """Until ``/__health`` answers: the connection waits in the listening socket's queue meanwhile."""
    deadline = time.monotonic() + 30
    while True:
        assert gateway.proc.poll() is None, gateway.log
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=0.5) as answer:
                assert answer.status == 200
                return
        except OSError:
            assert time.monotonic() < deadline, gateway.log
            time.sleep(0.01)


@pytest.mark.parametrize("workers", [1, 2])
def test_telemetry_listeners_listen_before_the_gateway_answers(tmp_path: Path, workers: int) -> None:
    refused: list[str] = []
    for start in range(_STARTS):
        port, stats, prom, census = free_port(), free_port(), free_port(), free_port()
        config = write_json(tmp_path / f"krakend-{start}.json", _config(port, stats, prom, census))
        gateway = Gateway(config, "-w", str(workers), cwd=tmp_path)
        try:
            _health(port, gateway)
            for url in (f"{stats}/__stats", f"{prom}/metrics", f"{census}/metrics"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{url}", timeout=5) as scraped:
                        assert scraped.status == 200 and scraped.read()
                except OSError as exc:
                    refused.append(f"start {start}: {url}: {exc!r}")
            # every worker serves soon: the supervisor relays the first's "listening" to the others
            assert len(gateway.worker_pids(workers, timeout=10)) == workers
            assert "opens without" not in gateway.log
        finally:
            assert gateway.stop() == 0, gateway.log
    assert not refused
