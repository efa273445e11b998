"""The traced proxy layer (``krakenpy.telemetry.layers.endpoint``'s ``_traced``) reads the request's
trace typed (compiled: its fields from the native object): a sampled request's proxy span is recorded
with the trace's ids, its parent the SERVER span (or the caller's span without one), its times the
call's; an unsampled request, or one without a trace or an exchange, records none, with metrics on
or off. Run on both builds (``krakenpy/compiled.py``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from krakenpy.config.build import build_service
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.endpoint import proxy_middleware
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.trace.context import Sampler, TraceState
from krakenpy.telemetry.trace.spans import SpanBuffer, request_ids
from krakenpy.telemetry.trace.tracer import Tracer

_TRACE = "0af7651916cd43dd8448eb211c80319c"
_CALLER = "b7ad6b7169203331"


def _layer(stats: bool) -> tuple[Proxy, SpanBuffer]:
    """The traced proxy layer of one endpoint around a next proxy that answers, and its span buffer."""
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://h"]}]}]})
    hub = Telemetry()
    buffer = SpanBuffer()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=("tracecontext",), buffer=buffer, redactor=hub.redactor)
    if stats:
        hub.stats = StatsRegistry()

    async def answer(request: Request) -> Response:
        await asyncio.sleep(0)
        return Response(data={"a": 1})

    return proxy_middleware(hub, service.endpoints[0])(answer), buffer


def _request(exchange: Exchange | None) -> Request:
    request = Request(
        method="GET", path="/a", params={}, headers={}, query={}, client_ip="203.0.113.7", client_path="/a",
        endpoint="/a",
    )  # fmt: skip
    if exchange is not None:
        request.context[EXCHANGE] = exchange
    return request


def _exchange(sampled: bool, server_span: bool) -> Exchange:
    """A request's exchange as the traced edge leaves it: its trace, span-id head, SERVER span id
    (``server_span``) and wall-clock offset."""
    exchange = Exchange()
    trace = exchange.trace = TraceState.of(_TRACE, _CALLER, sampled)
    exchange.spans = request_ids(trace)
    if server_span:
        exchange.span = exchange.spans + b"\x00\x00"
    exchange.wall = time.time_ns() - time.perf_counter_ns()
    return exchange


@pytest.mark.parametrize("stats", [False, True], ids=["traced", "traced+metrics"])
@pytest.mark.parametrize("server_span", [True, False], ids=["server-span", "caller-parent"])
async def test_proxy_traced_records_a_sampled_requests_span(stats: bool, server_span: bool) -> None:
    proxy, buffer = _layer(stats)
    exchange = _exchange(True, server_span)
    before = time.time_ns()
    response = await proxy(_request(exchange))
    after = time.time_ns()
    assert response.data == {"a": 1}
    (record,) = buffer.drain()
    trace: Any = exchange.trace
    # the trace's ids as the writer copies them, the span's own id (put on the exchange for the
    # backends), its parent: the SERVER span, else the caller's span
    assert record[1] == trace.wire == b"\x0a\x10" + bytes.fromhex(_TRACE) + b"\x12\x08"
    assert record[2] == exchange.proxy_span and record[2][:6] == exchange.spans
    assert record[3] == (exchange.span if server_span else bytes.fromhex(_CALLER))
    assert before - 1_000_000 <= record[4] <= record[5] <= after + 1_000_000
    # no error, complete, not canceled, no status code
    assert record[6:] == (0, "", True, False, None)


@pytest.mark.parametrize("stats", [False, True], ids=["traced", "traced+metrics"])
@pytest.mark.parametrize("case", ["unsampled", "no-trace", "no-exchange"])
async def test_proxy_traced_records_nothing_for_an_unrecorded_request(stats: bool, case: str) -> None:
    proxy, buffer = _layer(stats)
    exchange = None if case == "no-exchange" else _exchange(False, True)
    if case == "no-trace":
        assert exchange is not None
        exchange.trace = None
    response = await proxy(_request(exchange))
    assert response.data == {"a": 1}
    assert buffer.drain() == []
    if exchange is not None:
        assert exchange.proxy_span is None
