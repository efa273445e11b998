"""OTLP metrics carry ``http.response.status_code`` as an int attribute, as krakend-otel and this
gateway's own spans do; Prometheus keeps it as a label's text. The real CLI in a subprocess exporting
OTLP/HTTP to a receiver that decodes with ``opentelemetry-proto``."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from tests.cli_gateway import stop, wait_http
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import ROOT, free_port
from tests.threaded_app import Served


def _status_values(receiver: Receiver, metric: str, key: str = "http.response.status_code") -> list[dict[str, Any]]:
    return [
        attribute["value"]
        for export in receiver.metrics
        for rm in export.get("resourceMetrics", [])
        for sm in rm.get("scopeMetrics", [])
        for m in sm.get("metrics", [])
        if m["name"] == metric
        for point in m["histogram"]["dataPoints"]
        for attribute in point["attributes"]
        if attribute["key"] == key
    ]


def _backend() -> web.Application:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ok", ok)
    return app


def test_otlp_metric_status_code_is_an_int(tmp_path: Path) -> None:
    receiver = Receiver()
    port, prometheus = free_port(), free_port()
    with Served(receiver.app) as collector, Served(_backend) as backend:
        exporter = {"name": "col", "host": "http://127.0.0.1", "port": collector.port, "use_http": True,
                    "custom_metric_reporting_period": 1, "disable_traces": True}  # fmt: skip
        doc = {
            "version": 3,
            "port": port,
            "listen_ip": "127.0.0.1",
            "endpoints": [
                {"endpoint": "/a", "backend": [{"host": [f"http://127.0.0.1:{backend.port}"], "url_pattern": "/ok"}]}
            ],
            "extra_config": {
                "telemetry/opentelemetry": {
                    "exporters": {"otlp": [exporter], "prometheus": [{"name": "p", "port": prometheus}]}
                }
            },
        }
        config = tmp_path / "krakend.json"
        config.write_bytes(orjson.dumps(doc))
        proc = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "1"],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/__health", proc)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/a", timeout=10).read()
            deadline = time.monotonic() + 15
            while not _status_values(receiver, "http.client.duration") and time.monotonic() < deadline:
                time.sleep(0.1)
            scrape = urllib.request.urlopen(f"http://127.0.0.1:{prometheus}/metrics", timeout=10).read().decode()
        finally:
            _, stderr = stop(proc)
    for metric in ("http.server.duration", "http.client.duration"):  # global layer, backend round trip
        values = _status_values(receiver, metric)
        assert values, (metric, stderr)
        assert all(value == {"intValue": "200"} for value in values), (metric, values)
    ports = _status_values(receiver, "http.client.duration", "server.port")  # krakend-otel: semconv.ServerPort
    assert ports and all(value == {"intValue": str(backend.port)} for value in ports), ports
    assert "http_server_duration_count{" in scrape and 'http_response_status_code="200"' in scrape, scrape
