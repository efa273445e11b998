"""OTLP/HTTP metrics asked for as protobuf (``OTEL_EXPORTER_OTLP_PROTOCOL`` or the metrics' own variable)
where ``opentelemetry-proto`` is not installed: they go as JSON, and ``check`` and ``run`` say so and
name the extra, as they do for the gRPC one. The real CLI in a subprocess, the library hidden from it
by a package of the same name first on its path (the test process keeps it: its receiver decodes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.cli_gateway import check_config, stop, wait_http
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import ROOT, free_port
from tests.threaded_app import Served

_EXTRA = "krakenpy[otlp-protobuf]"


def _hidden(tmp_path: Path) -> dict[str, str]:
    """A ``PYTHONPATH`` on which ``opentelemetry.proto`` fails to import (``opentelemetry`` is a namespace
    package: the first portion's ``proto`` wins)."""
    shadow = tmp_path / "shadow" / "opentelemetry" / "proto"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PYTHONPATH": f"{tmp_path / 'shadow'}:{ROOT}"}


def _config(tmp_path: Path, port: int, collector: int) -> Path:
    path = tmp_path / "krakend.json"
    exporter = {"name": "col", "host": "http://127.0.0.1", "port": collector, "use_http": True,
                "custom_metric_reporting_period": 1}  # fmt: skip
    doc = {
        "version": 3,
        "port": port,
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        "extra_config": {"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}},
    }
    path.write_bytes(orjson.dumps(doc))
    return path


def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for signal in ("", "METRICS_", "TRACES_"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{signal}PROTOCOL", raising=False)


@pytest.mark.parametrize(
    "asked",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": " HTTP/Protobuf "},
        # the metrics' own variable wins over the general one
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"},
    ],
)
def test_check_explains_protobuf_metrics_without_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: dict[str, str]
) -> None:
    _unset(monkeypatch)
    config = _config(tmp_path, free_port(), free_port())
    out = check_config(config, env={**_hidden(tmp_path), **asked})
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert _EXTRA in text and "col" in text and "OTEL_EXPORTER_OTLP_" in text, text
    # with the library importable, with nothing asked (the default goes as JSON in silence), or with
    # JSON asked by the metrics' own variable (which wins over the general one): no word
    json = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}
    for env in ({"PYTHONPATH": str(ROOT), **asked}, _hidden(tmp_path), {**_hidden(tmp_path), **json}):
        quiet = check_config(config, env=env)
        assert quiet.returncode == 0 and _EXTRA not in quiet.stdout + quiet.stderr, quiet.stdout + quiet.stderr


def test_run_warns_once_and_sends_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset(monkeypatch)
    receiver = Receiver()
    port = free_port()
    with Served(receiver.app) as collector:
        config = _config(tmp_path, port, collector.port)
        env = {**os.environ, **_hidden(tmp_path), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "krakenpy", "run", "-c", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/__health", proc)
            deadline = time.monotonic() + 15
            while not receiver.metrics and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stdout, stderr = stop(proc)
    assert receiver.metrics, stderr
    assert receiver.bodies[0].startswith(b'{"resourceMetrics"'), receiver.bodies[0][:40]
    assert (stdout + stderr).count(_EXTRA) == 1, stderr
