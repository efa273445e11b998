"""``OTEL_EXPORTER_OTLP_INSECURE`` and the per-signal ``…_TRACES_INSECURE`` / ``…_METRICS_INSECURE``:
for an OTLP/gRPC exporter whose ``host`` names no scheme, ``true`` keeps the channel plaintext and any
other value makes it TLS; the signal's variable wins over the general one and a scheme in ``host``
over both. A real gateway exporting to real gRPC collectors on 127.0.0.1 (one plaintext, one behind
TLS signed by a CA made here), and the real ``check`` warning about a value that is not a boolean."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from krakenpy.telemetry.export import EXPORTER, exporter_tls
from krakenpy.telemetry.otelsettings import parse_opentelemetry
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.server.certs import Authority
from tests.server.process import write_json

grpc = pytest.importorskip("grpc")


@asynccontextmanager
async def _collector(got: list[bytes], authority: Authority | None = None) -> AsyncIterator[int]:
    """A gRPC trace collector on 127.0.0.1 (behind TLS with ``authority``'s certificate when given);
    yields its port, ``got`` collects the export requests."""

    async def export(request: bytes, context: Any) -> bytes:
        got.append(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    if authority is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        pair = authority.issue("collector", names=("127.0.0.1",))
        port = server.add_secure_port(
            "127.0.0.1:0", grpc.ssl_server_credentials([(pair.key.read_bytes(), pair.cert.read_bytes())])
        )
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


def _clear(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_EXPORTER_OTLP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def _reached(served: Any, upstream: Any, got: list[bytes], host: str, port: int) -> bool:
    """Whether one request's spans reach the collector through a gateway exporting to ``host``:``port``
    over OTLP/gRPC (KrakenD's default transport)."""
    got.clear()
    base = await upstream(recording_app([]))
    exporter = {"name": "g", "host": host, "port": port, "disable_metrics": True}
    endpoint = {"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}
    s = await served(doc([endpoint], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}}))
    assert (await s.client.get("/a")).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    return bool(got)


async def test_insecure_false_makes_a_schemeless_grpc_exporter_use_tls(
    served: Any, upstream: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a scheme the exporter was always plaintext: a collector behind TLS got nothing, whatever
    the variables said. ``…_TRACES_INSECURE=false`` wins over ``OTEL_EXPORTER_OTLP_INSECURE=true``."""
    ca = Authority(tmp_path)
    got: list[bytes] = []
    async with _collector(got, ca) as port:
        trust = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca.path)}
        for env, reached in (
            ({**trust, "OTEL_EXPORTER_OTLP_INSECURE": "false"}, True),
            ({**trust, "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "False"}, True),
            ({**trust, "OTEL_EXPORTER_OTLP_INSECURE": "false", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"}, False),
            (trust, False),  # unset: KrakenD's plaintext for a host without a scheme
        ):
            _clear(monkeypatch, env)
            assert await _reached(served, upstream, got, "127.0.0.1", port) is reached, env


async def test_insecure_true_or_an_http_scheme_keeps_the_channel_plaintext(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``true`` (any case) is plaintext; a scheme in ``host`` wins over the variables (``http://``:
    plaintext even with ``INSECURE=false``)."""
    got: list[bytes] = []
    async with _collector(got) as port:
        for host, env, reached in (
            ("127.0.0.1", {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": " TRUE "}, True),
            ("127.0.0.1", {"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "false"}, True),  # the other signal's
            ("http://127.0.0.1", {"OTEL_EXPORTER_OTLP_INSECURE": "false"}, True),
            ("127.0.0.1", {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false"}, False),
        ):
            _clear(monkeypatch, env)
            assert await _reached(served, upstream, got, host, port) is reached, (host, env)


def test_the_decision_per_exporter_and_signal() -> None:
    """What each exporter's settings and the variables decide (read once at start-up): the variables
    apply to OTLP/gRPC without a scheme only; OTLP/HTTP follows its host as before."""
    raw = {
        "exporters": {
            "otlp": [
                {"name": "bare", "host": "collector"},
                {"name": "plain", "host": "http://collector"},
                {"name": "tls", "host": "https://collector"},
                {"name": "http", "host": "collector", "use_http": True},
            ]
        }
    }
    exporters = {e.name: e for e in parse_opentelemetry(raw, "x").otlp}
    env = {"OTEL_EXPORTER_OTLP_INSECURE": "false", "OTEL_EXPORTER_OTLP_METRICS_INSECURE": "true"}
    decided = {(n, s): exporter_tls(e, s, env) for n, e in exporters.items() for s in ("TRACES", "METRICS")}
    assert decided == {
        ("bare", "TRACES"): True,
        ("bare", "METRICS"): False,
        ("plain", "TRACES"): False,
        ("plain", "METRICS"): False,
        ("tls", "TRACES"): True,
        ("tls", "METRICS"): True,
        ("http", "TRACES"): False,
        ("http", "METRICS"): False,
    }
    assert exporter_tls(exporters["bare"], "TRACES", {}) is False
    assert exporter_tls(exporters["bare"], "TRACES", {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "yes"}) is True


def test_check_warns_about_a_value_that_is_no_boolean_and_not_that_it_is_unread(tmp_path: Path) -> None:
    exporter = {"name": "g", "host": "collector.example", "port": 4317}
    config = write_json(
        tmp_path / "krakend.json",
        doc([], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}}),
    )
    done = check_config(
        config, env={"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "yes", "OTEL_EXPORTER_OTLP_INSECURE": "true"}
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert "OTEL_EXPORTER_OTLP_TRACES_INSECURE='yes' is not true or false: read as false (TLS)" in out, out
    assert "not read" not in out, out
    quiet = check_config(config, env={"OTEL_EXPORTER_OTLP_INSECURE": "True"})
    assert "INSECURE" not in quiet.stdout + quiet.stderr
