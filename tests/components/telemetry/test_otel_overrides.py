"""Endpoint- and backend-level ``telemetry/opentelemetry`` overrides (observability §1.8), through the
real CLI: an endpoint's ``proxy`` replaces the service's ``layers.proxy`` for that endpoint, a
backend's ``backend`` replaces ``layers.backend`` for that backend (metrics on a real ``/metrics``
scrape, spans through a real OTLP/HTTP receiver)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.cli_gateway import check_config, gateway_process
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver, attrs, otlp_traces_exporter
from tests.conftest import free_port


def _series(metrics: str, name: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith(name + "{")]


def _routes(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := re.search(r'[{,]http_route="([^"]*)"', line))}


async def test_endpoint_proxy_and_backend_overrides_reach_the_metrics(tmp_path: Path, upstream: Any) -> None:
    base = await upstream(recording_app([]))
    port, prom = free_port(), free_port()
    service_static = [{"key": "tier", "value": "svc"}]
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]},
                "layers": {"proxy": {"metrics_static_attributes": service_static}},
            }
        },
        "endpoints": [
            {
                "endpoint": "/a/{id}",
                "extra_config": {"telemetry/opentelemetry": {"proxy": {"disable_metrics": True}}},
                "backend": [
                    {
                        "host": [base],
                        "url_pattern": "/x",
                        "extra_config": {"telemetry/opentelemetry": {"backend": {"metrics": {"disable_stage": True}}}},
                    }
                ],
            },
            {
                "endpoint": "/c",
                # replaces, no merge: the same static key, this endpoint's value
                "extra_config": {
                    "telemetry/opentelemetry": {"proxy": {"metrics_static_attributes": [{"key": "tier", "value": "c"}]}}
                },
                "backend": [{"host": [base], "url_pattern": "/z"}],
            },
            {"endpoint": "/b", "backend": [{"host": [base], "url_pattern": "/y"}]},
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as http:
            for path in ("/a/1", "/b", "/c"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 200, path
            async with http.get(f"http://127.0.0.1:{prom}/metrics") as resp:
                metrics = await resp.text()
    proxy = _series(metrics, "krakend_proxy_duration_count")
    assert _routes(proxy) == {"/b", "/c"}, metrics
    assert all('tier="c"' in line for line in proxy if 'http_route="/c"' in line)
    assert all('tier="svc"' in line for line in proxy if 'http_route="/b"' in line)
    backend = _series(metrics, "krakend_backend_duration_count")
    assert _routes(backend) == {"/y", "/z"}, metrics
    # the backend's `metrics` object present: its unset round_trip is off (no client series for /x)
    assert _routes(_series(metrics, "http_client_duration_count")) == {"/y", "/z"}, metrics
    # the global layer has no override: every endpoint
    assert _routes(_series(metrics, "http_server_duration_count")) == {"/a/:id", "/b", "/c"}


async def _spans(receiver: Receiver, names: set[str], timeout: float = 10.0) -> list[dict[str, Any]]:
    for _ in range(int(timeout / 0.1)):
        spans = receiver.spans()
        if names <= {s["name"] for s in spans}:
            return spans
        await asyncio.sleep(0.1)
    return receiver.spans()


async def test_endpoint_and_backend_overrides_reach_the_spans(tmp_path: Path, upstream: Any) -> None:
    receiver = Receiver()
    collector = await upstream(receiver.app())
    base = await upstream(recording_app([]))
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {"otlp": [otlp_traces_exporter(collector)]},
                # the service: no proxy spans, no CLIENT spans
                "layers": {"proxy": {"disable_traces": True}, "backend": {"traces": {"round_trip": False}}},
            }
        },
        "endpoints": [
            {
                "endpoint": "/a",
                "extra_config": {
                    "telemetry/opentelemetry": {"proxy": {"traces_static_attributes": [{"key": "team", "value": "a"}]}}
                },
                "backend": [
                    {
                        "host": [base],
                        "url_pattern": "/x",
                        "extra_config": {"telemetry/opentelemetry": {"backend": {"traces": {"round_trip": True}}}},
                    }
                ],
            },
            {
                "endpoint": "/b",
                "backend": [
                    {
                        "host": [base],
                        "url_pattern": "/y",
                        "extra_config": {"telemetry/opentelemetry": {"backend": {"traces": {"disable_stage": True}}}},
                    }
                ],
            },
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as http:
            for path in ("/a", "/b"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 200, path
        spans = await _spans(receiver, {"/a", "/x", "GET /b"})
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_stage.setdefault(str(attrs(span).get("krakend.stage")), []).append(span)
    # /a's own proxy object (no disable_traces) turns its proxy span on, with its static attribute
    proxy = by_stage.get("proxy", [])
    assert [s["name"] for s in proxy] == ["/a"], spans
    assert attrs(proxy[0])["team"] == "a"
    # /x's backend object turns its CLIENT span on; /y's disables its backend stage
    assert [s["name"] for s in by_stage.get("backend-request", [])] == ["/x"], spans
    assert [s["name"] for s in by_stage.get("backend", [])] == ["/x"], spans


async def test_endpoint_global_static_attributes_replace_the_services(tmp_path: Path, upstream: Any) -> None:
    receiver = Receiver()
    collector = await upstream(receiver.app())
    base = await upstream(recording_app([]))
    port, prom = free_port(), free_port()
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {
            "telemetry/opentelemetry": {
                "exporters": {
                    "prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}],
                    "otlp": [otlp_traces_exporter(collector)],
                },
                "layers": {
                    "global": {
                        "metrics_static_attributes": [{"key": "zone", "value": "svc"}],
                        "traces_static_attributes": [{"key": "zone", "value": "svc"}],
                    }
                },
            }
        },
        "endpoints": [
            {
                "endpoint": "/a/{id}",
                "extra_config": {
                    "telemetry/opentelemetry": {
                        "global": {
                            "metrics_static_attributes": [{"key": "zone", "value": "a"}],
                            "traces_static_attributes": [{"key": "team", "value": "a"}],
                        }
                    }
                },
                "backend": [{"host": [base], "url_pattern": "/x"}],
            },
            {"endpoint": "/b", "backend": [{"host": [base], "url_pattern": "/y"}]},
        ],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    checked = check_config(config)
    assert checked.returncode == 0 and "global" not in checked.stderr + checked.stdout, checked
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as http:
            for path in ("/a/1", "/b"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 200, path
            async with http.get(f"http://127.0.0.1:{prom}/metrics") as resp:
                metrics = await resp.text()
        spans = await _spans(receiver, {"GET /a/:id", "GET /b"})
    server = _series(metrics, "http_server_duration_count")
    assert {(r, 'zone="a"' in line) for line in server for r in _routes([line])} == {("/a/:id", True), ("/b", False)}
    assert all('zone="svc"' in line for line in server if 'http_route="/b"' in line), metrics
    globals_ = {s["name"]: attrs(s) for s in spans if attrs(s).get("krakend.stage") == "global"}
    assert globals_["GET /a/:id"].get("team") == "a" and "zone" not in globals_["GET /a/:id"], globals_
    assert globals_["GET /b"].get("zone") == "svc" and "team" not in globals_["GET /b"], globals_
