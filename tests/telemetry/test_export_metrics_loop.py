"""The OTLP metrics loop outlives a body it cannot build (trace5's review: built outside the send's
guard, a missing opentelemetry-proto or a value protobuf refuses ended the loop for the process's life,
logging nothing), and the protocol variables are read as the specification says."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from krakenpy.telemetry import export
from krakenpy.telemetry.export import OtlpExporter, OtlpTarget
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.trace.spans import SpanBuffer


async def _run(exporter: OtlpExporter) -> list[asyncio.Task[object]]:
    await exporter.start()
    try:
        await asyncio.sleep(0.25)  # a dozen periods of 0.02 s
        return [t for t in exporter._tasks if t.done()]
    finally:
        await exporter.stop()


async def test_metrics_over_grpc_without_opentelemetry_proto_are_logged_and_retried(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in [m for m in sys.modules if m.startswith("opentelemetry")] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)  # a plain pip install: the extra is missing
    target = OtlpTarget("col", "127.0.0.1", 1, use_http=False, metric_period=0.02)
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    ended = await _run(OtlpExporter((target,), SpanBuffer(), Registry(), {"service.name": "gw"}))
    assert ended == []
    assert [r.getMessage() for r in caplog.records if "metrics export to col failed" in r.getMessage()]


async def test_a_metric_value_protobuf_refuses_does_not_end_the_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    registry = Registry()
    registry.family("g", "gauge", ("l",)).counter("x").value = 2.0**70  # outside int64: asInt refused
    target = OtlpTarget("col", "127.0.0.1", 1, use_http=True, metric_period=0.02)
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    ended = await _run(OtlpExporter((target,), SpanBuffer(), registry, {"service.name": "gw"}))
    assert ended == []
    assert [r.getMessage() for r in caplog.records if "metrics export to col failed" in r.getMessage()]


@pytest.mark.parametrize(
    ("signal", "general", "expected", "warned"),
    [
        (None, None, "http/protobuf", False),
        ("HTTP/JSON ", None, "http/json", False),
        (None, " Http/Json", "http/json", False),
        ("", "http/json", "http/json", False),
        ("bogus", "http/json", "http/json", True),  # an unknown signal value is ignored: the general one
        (None, "bogus", "http/protobuf", True),
        ("grpc", "http/json", "grpc", False),
    ],
)
def test_protocol_variables_are_read_as_the_specification_says(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    signal: str | None,
    general: str | None,
    expected: str,
    warned: bool,
) -> None:
    for name, value in (("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", signal), ("OTEL_EXPORTER_OTLP_PROTOCOL", general)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    assert export._protocol("TRACES") == expected
    assert any("bogus" in r.getMessage() for r in caplog.records) is warned


async def test_a_collector_refusing_every_post_costs_one_message_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every post refused (a real collector on 127.0.0.1 answering 503): one warning, and its text
    (the redaction's scans) built once, not once a post."""
    from aiohttp import web

    from krakenpy.telemetry.redact import Redactor

    posts: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        await request.read()
        posts.append(request.path)
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/v1/metrics", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    class Counting(Redactor):
        texts = 0

        def text(self, text: str) -> str:
            Counting.texts += 1
            return super().text(text)

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")
    registry = Registry()
    registry.family("g", "gauge", ("l",)).counter("x").value = 1.0
    target = OtlpTarget("col", "127.0.0.1", port, use_http=True, traces=False, metric_period=0.02)
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    try:
        ended = await _run(OtlpExporter((target,), SpanBuffer(), registry, {"service.name": "gw"}, Counting()))
    finally:
        await runner.cleanup()
    assert ended == []
    assert len(posts) >= 3, posts  # refused again and again
    lines = [r.getMessage() for r in caplog.records if "metrics export to col failed" in r.getMessage()]
    assert lines == ["[SERVICE: OpenTelemetry] metrics export to col failed: RuntimeError: HTTP 503"]
    assert Counting.texts == 1
