"""The client layer marks the ``traceparent`` it adds to a sampled call as fastwire's ``KNOWN`` value
(the head writer does not scan it for control bytes): only the very string it sends, and only when
that string is made of checked hex (the trace id decoded into ``TraceState.wire``, the span id's raw
bytes) and is the injector's first header."""

from __future__ import annotations

import re

import pytest

from krakenpy.backends.client import UpstreamResponse
from krakenpy.backends.fastwire import KNOWN
from krakenpy.config.build import build_service
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.trace.context import Sampler, TraceState
from krakenpy.telemetry.trace.spans import SpanBuffer, request_ids
from krakenpy.telemetry.trace.tracer import Tracer

_TRACEPARENT = re.compile(r"00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-0[01]")


async def _call(propagators: tuple[str, ...], sampled: bool, decoded: bool) -> list[tuple[str, str]]:
    """One call through a client layer; the headers the upstream saw."""
    backend = {"host": ["http://h"], "url_pattern": "/o"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=propagators, buffer=SpanBuffer(), redactor=hub.redactor)
    layer = client_middleware(hub, endpoint, endpoint.backends[0])
    assert layer is not None
    exchange = Exchange()
    trace = exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", sampled, "", "k=v")
    if decoded:
        exchange.spans = request_ids(trace)
    else:  # a sampled trace whose ids were never decoded: its text is not known to be hex
        exchange.spans = b"\x01\x02\x03\x04\x05\x06"
    seen: list[tuple[str, str]] = []

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        seen.extend(headers)
        return UpstreamResponse(200, (), b"{}", "application/json")

    token = CURRENT.set(exchange)
    try:
        assert (await layer(upstream)("GET", "http://h/o", [], None)).status == 200
    finally:
        CURRENT.reset(token)
    return seen


async def test_known_traceparent_is_the_string_a_sampled_call_sent() -> None:
    KNOWN.value = ""
    seen = await _call(("tracecontext", "baggage"), True, True)
    assert [name for name, _ in seen] == ["traceparent", "baggage"]
    value = seen[0][1]
    assert _TRACEPARENT.fullmatch(value) is not None and value.endswith("-01")
    assert KNOWN.value is value


@pytest.mark.parametrize(
    ("propagators", "sampled", "decoded"),
    [
        (("baggage", "tracecontext"), True, True),  # the first header is the caller's baggage
        (("tracecontext",), False, True),  # an unsampled call: a hop id, no span
        (("tracecontext",), True, False),  # the trace id never decoded as hex
    ],
)
async def test_known_traceparent_left_alone(propagators: tuple[str, ...], sampled: bool, decoded: bool) -> None:
    KNOWN.value = ""
    seen = await _call(propagators, sampled, decoded)
    assert ("traceparent" in dict(seen)) and KNOWN.value == ""
