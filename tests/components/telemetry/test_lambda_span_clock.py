"""A Lambda backend's CLIENT span reads the wall clock itself; its parent backend span takes its times
from the edge's wall offset and its own perf reading. The offset is taken from two clock reads back
to back: taken against the edge's first perf reading (a few µs earlier), the derived times ran ahead
of the wall clock and 57 of 60 Lambda spans started before their parents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.telemetry import export, otlp
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.trace.spans import span_of
from tests.components.telemetry.conftest import Served, doc
from tests.components.telemetry.otlp_receiver import Receiver
from tests.components.telemetry.test_opentelemetry import _otel


def _function() -> web.Application:
    async def invoke(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", invoke)
    return app


async def test_lambda_span_never_starts_before_its_backend_span(
    served: Callable[..., Awaitable[Served]], upstream: Callable[..., Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)  # the spans watched are the default protobuf writer's
    batches: list[list[Any]] = []
    encode = otlp.spans_proto  # the default OTLP/HTTP body

    def keep(records: Any, resource: bytes) -> bytes:
        batches.append(list(records))
        return encode(records, resource)

    monkeypatch.setattr(export, "spans_proto", keep)
    collector = await upstream(Receiver().app())
    function = await upstream(_function())
    invoke = {"function_name": "f", "region": "us-east-1", "endpoint": function}
    backend = {"host": ["ignored"], "url_pattern": "/", "extra_config": {"backend/lambda": invoke}}
    otel = _otel(int(collector.rsplit(":", 1)[1]))
    s = await served(doc([{"endpoint": "/l", "backend": [backend]}], extra_config={"telemetry/opentelemetry": otel}))
    parent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    for n in range(60):
        response = await s.client.get("/l", headers=parent if n % 2 else {})
        assert response.status == 200
    exporter = s.gateway.resources.state[EXPORTER]
    await exporter.flush()
    await asyncio.sleep(0.2)
    await exporter.flush()
    spans = [span_of(r) for batch in batches for r in batch]
    by_id = {span.span_id: span for span in spans}
    children = [(span, by_id[span.parent_id]) for span in spans if span.parent_id in by_id]
    assert len(children) == 180  # per request: proxy under SERVER, backend under proxy, CLIENT under backend
    early = [(child.name, parent.start_ns - child.start_ns) for child, parent in children
             if child.start_ns < parent.start_ns]  # fmt: skip
    assert early == []
