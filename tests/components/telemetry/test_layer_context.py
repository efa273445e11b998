"""The telemetry layers' context variables (``CURRENT``, ``TIMING``), set and reset through methods
bound once at import (branch ``metrics2``): each call sees its own value, and the caller's value is
back after it, whether the call answered, failed or was cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.backends.client import UpstreamResponse
from krakenpy.backends.conntiming import TIMING, CallTiming, current_timing
from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.layers.edge_metered import metered_handler
from krakenpy.telemetry.metrics.instruments import ClientMetrics, ServerMetrics
from krakenpy.telemetry.metrics.registry import Registry


def _client_layer(backends: int = 1) -> object:
    backend = {"host": ["http://h"], "url_pattern": "/u"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend] * backends}]})
    endpoint = service.endpoints[0]
    hub = Telemetry(registry=Registry())
    assert hub.registry is not None
    hub.client_metrics = ClientMetrics(hub.registry, detailed=True)  # a CallTiming per call (TIMING set)
    layer = client_middleware(hub, endpoint, endpoint.backends[0])
    assert layer is not None
    return layer


@pytest.mark.parametrize("outcome", ["answer", "fail", "cancel"])
async def test_layer_context_client_sets_and_resets_timing(outcome: str) -> None:
    layer = _client_layer()
    seen: list[object] = []

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        seen.append(TIMING.get())
        await asyncio.sleep(0)
        if outcome == "fail":
            raise OSError("refused")
        if outcome == "cancel":
            raise asyncio.CancelledError
        return UpstreamResponse(200, (), b"{}", "application/json")

    outer = CallTiming()
    token = TIMING.set(outer)
    exchange = Exchange()
    current = CURRENT.set(exchange)
    try:
        call = layer(upstream)  # type: ignore[operator]
        await _outcome(call, outcome)
        # the call ran with its own timing; the caller's is back after it
        assert len(seen) == 1 and isinstance(seen[0], CallTiming) and seen[0] is not outer
        assert TIMING.get() is outer
        assert CURRENT.get() is exchange
    finally:
        CURRENT.reset(current)
        TIMING.reset(token)


@pytest.mark.parametrize("outcome", ["answer", "fail", "cancel"])
@pytest.mark.parametrize("shape", ["solo", "two backends", "no exchange"])
async def test_layer_context_client_hands_timing_down(shape: str, outcome: str) -> None:
    """A solo call (one backend called once) with an exchange gets its timing on the exchange and
    sets no context variable; two backends of one request, or a call without an exchange, get it in
    ``TIMING``. Either way the upstream client finds it with ``current_timing`` and the caller's
    values are back after the call, whether it answered, failed or was cancelled."""
    layer = _client_layer(2 if shape == "two backends" else 1)
    seen: list[tuple[CallTiming | None, CallTiming | None, object]] = []
    exchange = Exchange() if shape != "no exchange" else None
    outer = CallTiming()  # a previous value of the exchange's slot, put back after the call
    if exchange is not None:
        exchange.call_timing = outer

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        seen.append((current_timing(), TIMING.get(), exchange.call_timing if exchange is not None else None))
        await asyncio.sleep(0)
        if outcome == "fail":
            raise OSError("refused")
        if outcome == "cancel":
            raise asyncio.CancelledError
        return UpstreamResponse(200, (), b"{}", "application/json")

    current = CURRENT.set(exchange)
    try:
        call = layer(upstream)  # type: ignore[operator]
        await _outcome(call, outcome)
        assert len(seen) == 1
        timing, variable, on_exchange = seen[0]
        assert isinstance(timing, CallTiming) and timing is not outer
        if shape == "solo":
            assert variable is None and on_exchange is timing
        else:
            assert variable is timing and on_exchange is (outer if exchange is not None else None)
        assert TIMING.get() is None
        if exchange is not None:
            assert exchange.call_timing is outer
    finally:
        CURRENT.reset(current)


@pytest.mark.parametrize("fails", [False, True])
async def test_layer_context_metered_edge_sets_and_resets_current(fails: bool) -> None:
    hub = Telemetry(registry=Registry())
    assert hub.registry is not None
    hub.server_metrics = ServerMetrics(hub.registry)
    seen: list[Exchange | None] = []

    async def inner(request: HttpRequest) -> HttpResponse:
        seen.append(CURRENT.get())
        await asyncio.sleep(0)
        if fails:
            raise ConnectionResetError("client went away")
        return HttpResponse(200, CIMultiDict(), b"{}")

    handle = metered_handler(hub, inner)
    assert handle is not None
    outer = Exchange()
    token = CURRENT.set(outer)
    try:
        headers = CIMultiDictProxy(CIMultiDict({"Host": "gw"}))
        request = HttpRequest("GET", "/a", "", headers, remote="127.0.0.1", host="gw")
        if fails:
            with pytest.raises(ConnectionResetError):
                await handle(request)
        else:
            assert (await handle(request)).status == 200
        assert len(seen) == 1 and isinstance(seen[0], Exchange) and seen[0] is not outer
        assert CURRENT.get() is outer
    finally:
        CURRENT.reset(token)


async def _outcome(call: Any, outcome: str) -> None:
    """One call through the layer: answered (200), failed (OSError) or cancelled, as ``outcome`` says."""
    if outcome == "answer":
        assert (await call("GET", "http://h/u", [], None)).status == 200
    else:
        with pytest.raises(OSError if outcome == "fail" else asyncio.CancelledError):
            await call("GET", "http://h/u", [], None)
