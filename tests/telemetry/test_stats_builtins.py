"""``/__stats`` counts endpoints only: KrakenD registers ``/__health``, ``/__debug/`` and ``/__echo/``
on the engine, outside krakend-metrics' handler factory, so probes and debug calls make no keys
(real CLI with ``-d``, ``/__stats`` on its own port)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli_gateway import gateway_process
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("health_path", "otel_global"),
    [
        ("/__health", None),  # the metered edge
        ("/hc", {}),  # traced (a SERVER span)
        ("/__health", {"report_headers": True}),  # the general edge
    ],
    ids=["metered", "traced", "general"],
)
def test_stats_leave_out_the_builtin_routes(
    tmp_path: Path, health_path: str, otel_global: dict[str, object] | None
) -> None:
    port, stats, refused = free_port(), free_port(), free_port()
    extra: dict[str, object] = {
        "router": {"health_path": health_path},
        "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
    }
    if otel_global is not None:  # traces only, to a collector that is not there
        exporter = {"name": "c", "host": "http://127.0.0.1", "port": refused, "use_http": True, "disable_metrics": True}
        extra["telemetry/opentelemetry"] = {"exporters": {"otlp": [exporter]}, "layers": {"global": otel_global}}
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps(
            {
                "version": 3,
                "port": port,
                "listen_ip": "127.0.0.1",
                "echo_endpoint": True,
                "extra_config": extra,
                "endpoints": [
                    {"endpoint": "/a", "backend": [{"host": [f"http://127.0.0.1:{refused}"], "url_pattern": "/"}]}
                ],
            }
        )
    )
    with gateway_process(config, port=port, args=["-d"]):
        for path in (health_path, health_path, "/__debug/x", "/__debug", "/__echo/y", "/__echo", "/a"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
            except urllib.error.HTTPError as err:
                assert path == "/a" and err.code == 500, (path, err.code)
        body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{stats}/__stats", timeout=10).read())
    routes = sorted(key for key in body if key.startswith("krakend.router.response."))
    assert "krakend.router.response./a.status.500.count" in routes, routes  # the endpoint is counted
    assert not [key for key in routes if not key.startswith("krakend.router.response./a.")], routes
