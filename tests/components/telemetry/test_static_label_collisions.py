"""``metrics_static_attributes`` (and the backend's ``static_attributes``) whose keys collide with an
instrument's own labels, repeat, or take a name the Prometheus text format reserves: each made a
series with a label twice (or a histogram's ``le`` twice) and Prometheus refused the whole scrape.
They are left out of the metrics (a repeated key's last value kept) and ``check`` says which."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port
from tests.threaded_app import Served, ok_app

NS = "telemetry/opentelemetry"
GLOBAL = [
    {"key": "http.route", "value": "forged"},
    {"key": "le", "value": "1"},
    {"key": "team", "value": "first"},
    {"key": "__name__", "value": "x"},
    {"key": "team", "value": "last"},
]
PROXY = [{"key": "error", "value": "forged"}, {"key": "zone", "value": "z1"}]
BACKEND = [
    {"key": "server.address", "value": "forged"},
    {"key": "quantile", "value": "q"},
    {"key": "tier", "value": "t1"},
]


def _doc(port: int, prom: int, backend: str) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "extra_config": {
            NS: {
                "exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]},
                "layers": {
                    "global": {"metrics_static_attributes": GLOBAL},
                    "proxy": {"metrics_static_attributes": PROXY},
                    "backend": {"metrics": {"round_trip": True, "read_payload": True, "static_attributes": BACKEND}},
                },
            }
        },
        "endpoints": [{"endpoint": "/r", "backend": [{"host": [backend], "url_pattern": "/"}]}],
    }


def test_check_names_the_left_out_keys_at_their_paths(tmp_path: Path) -> None:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_doc(8080, 9090, "http://127.0.0.1:8081")))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    base = f"extra_config.{NS}.layers"
    assert f"{base}.global.metrics_static_attributes: http.route, le, team, __name__ left out" in out, out
    assert f"{base}.proxy.metrics_static_attributes: error left out" in out, out
    assert f"{base}.backend.metrics.static_attributes: server.address, quantile left out" in out, out


def test_the_scrape_parses_with_the_usable_static_labels(tmp_path: Path) -> None:
    port, prom = free_port(), free_port()
    with Served(ok_app()) as backend:
        config = tmp_path / "krakend.json"
        config.write_text(json.dumps(_doc(port, prom, f"http://127.0.0.1:{backend.port}")))
        with gateway_process(config, port=port):
            for _ in range(3):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/r", timeout=5) as answer:
                    assert answer.status == 200
            with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as answer:
                text = answer.read().decode()
    # the parser refuses a sample with a label twice: the whole scrape was lost before
    families = {f.name: f for f in text_string_to_metric_families(text)}
    server = [s for s in families["http_server_duration"].samples if s.name.endswith("_count")]
    assert server and all(s.labels["team"] == "last" and s.labels["http_route"] == "/r" for s in server)
    proxy = [s for s in families["krakend_proxy_duration"].samples if s.name.endswith("_count")]
    assert proxy and all(s.labels["zone"] == "z1" and s.labels["error"] == "false" for s in proxy)
    client = [s for s in families["http_client_duration"].samples if s.name.endswith("_count")]
    assert client and all(s.labels["tier"] == "t1" and s.labels["server_address"] == "127.0.0.1" for s in client)
    assert all("quantile" not in s.labels for f in families.values() for s in f.samples)
