"""A backend called without a recorded CLIENT span (``layers.backend.traces.round_trip: false``, as
corpus config 049) is told a ``traceparent`` whose parent is the innermost span the gateway exports,
through the real CLI and a real OTLP/HTTP receiver: the downstream's spans join the trace."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.cli_gateway import gateway_process
from tests.components.telemetry.otlp_receiver import Receiver, attrs, otlp_traces_exporter
from tests.conftest import free_port


def _app(seen: list[str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def _config(tmp_path: Path, port: int, base: str, otel: dict[str, Any]) -> Path:
    """A gateway on ``port`` with one endpoint ``/product`` on ``base`` and ``otel`` as its
    ``telemetry/opentelemetry``, written to a file."""
    doc = {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/opentelemetry": otel},
        "endpoints": [{"endpoint": "/product", "backend": [{"host": [base], "url_pattern": "/product"}]}],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    return config


@pytest.mark.parametrize(
    ("layers", "stage"),
    [
        # 049's layers: no CLIENT span; the backend span is the innermost exported one
        ({"proxy": {"disable_traces": True}, "backend": {"traces": {"round_trip": False}}}, "backend"),
        # no backend stage either: the proxy span
        ({"backend": {"traces": {"disable_stage": True}}}, "proxy"),
        # only the SERVER span
        ({"proxy": {"disable_traces": True}, "backend": {"traces": {"disable_stage": True}}}, "global"),
    ],
)
async def test_injected_parent_is_an_exported_span(
    tmp_path: Path, upstream: Any, layers: dict[str, Any], stage: str
) -> None:
    receiver = Receiver()
    collector = await upstream(receiver.app())
    seen: list[str] = []
    base = await upstream(_app(seen))
    port = free_port()
    config = _config(
        tmp_path,
        port,
        base,
        {"trace_sample_rate": 1, "exporters": {"otlp": [otlp_traces_exporter(collector)]}, "layers": layers},
    )
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/product") as resp:
                assert resp.status == 200
        for _ in range(100):
            if any(attrs(s).get("krakend.stage") == stage for s in receiver.spans()):
                break
            await asyncio.sleep(0.1)
    spans = receiver.spans()
    assert len(seen) == 1 and seen[0], seen
    _, trace_id, parent_id, flags = seen[0].split("-")
    assert flags == "01"
    assert all(s["traceId"] == trace_id for s in spans), spans
    assert "backend-request" not in {attrs(s).get("krakend.stage") for s in spans}
    exported = {s["spanId"]: str(attrs(s).get("krakend.stage")) for s in spans}
    assert exported.get(parent_id) == stage, (parent_id, exported)


async def test_disable_propagation_ignores_the_callers_context_and_still_injects(tmp_path: Path, upstream: Any) -> None:
    """``layers.global.disable_propagation``: the caller's ``traceparent`` is not continued (a new
    trace), and the backend still gets the gateway's (krakend-otel drops only the global layer's
    propagator)."""
    receiver = Receiver()
    collector = await upstream(receiver.app())
    seen: list[str] = []
    base = await upstream(_app(seen))
    port = free_port()
    otel = {
        "exporters": {"otlp": [otlp_traces_exporter(collector)]},
        "layers": {"global": {"disable_propagation": True}},
    }
    config = _config(tmp_path, port, base, otel)
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with gateway_process(config, port=port):
        async with aiohttp.ClientSession() as http:
            headers = {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
            async with http.get(f"http://127.0.0.1:{port}/product", headers=headers) as resp:
                assert resp.status == 200
        for _ in range(100):
            if any(attrs(s).get("krakend.stage") == "backend-request" for s in receiver.spans()):
                break
            await asyncio.sleep(0.1)
    spans = receiver.spans()
    assert len(seen) == 1 and seen[0], seen
    _, trace_id, parent_id, _ = seen[0].split("-")
    assert trace_id != caller_trace
    assert {s["traceId"] for s in spans} == {trace_id}
    assert all(s.get("parentSpanId") != caller_span for s in spans)
    exported = {s["spanId"]: str(attrs(s).get("krakend.stage")) for s in spans}
    assert exported.get(parent_id) == "backend-request", (parent_id, exported)
