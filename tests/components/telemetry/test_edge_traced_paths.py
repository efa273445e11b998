"""``edge_traced`` against the general edge handler on the paths a real backend cannot easily produce:
a rejection, a cancelled request, a crash, a backend error, an unmatched route, malformed
``traceparent`` and request ids, skipped paths, a sample rate of 0, metrics on and off. Both handlers
are built on the same gateway's hub and serve the same requests in process: the answers, the spans
recorded and the access-log lines must be the same."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.gateway import build_gateway
from krakenpy.telemetry.exchange import EXCHANGE
from krakenpy.telemetry.ginline import took_text
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.layers import edge, edge_traced

_TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_KNOWN = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
_GENERATED = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}|[0-9A-Za-z-]{20,}")
_REQUESTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("/users/1", "a=1&access_token=s", {"traceparent": _TP, "X-Request-Id": "given-1", "User-Agent": "u"}),
    ("/users/2", "", {"traceparent": _TP[:-2] + "00"}),
    ("/users/3", "", {"traceparent": "00-zz-yy-01"}),
    ("/users/4", "", {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"}),
    ("/users/5", "", {"X-Request-Id": "bad id with spaces \x01"}),
    ("/users/6", "", {"X-Request-Id": ""}),
    ("/__health", "", {"traceparent": _TP}),
    ("/reject", "", {"traceparent": _TP}),
    ("/cancel", "q=1", {"traceparent": _TP}),
    ("/crash", "", {"traceparent": _TP}),
    ("/err", "", {"traceparent": _TP}),
    ("/nowhere", "", {}),
)


async def _next(request: HttpRequest) -> HttpResponse:
    exchange = request.context[EXCHANGE]
    path = request.path
    if path == "/reject":
        raise Rejection(429, reason="rate_limited", policy="router", body=b"slow", headers=[("X-R", "1")])
    if path == "/cancel":
        exchange.fail("boom upstream")
        raise asyncio.CancelledError()
    if path == "/crash":
        raise RuntimeError("bug")
    if path == "/err":
        request.route = "/err"
        exchange.fail("backend said no")
        return HttpResponse(502, CIMultiDict(), b"x")
    if path.startswith("/users"):
        request.route = "/users/{id}"
        return HttpResponse(200, CIMultiDict({"Content-Type": "application/json"}), b'{"a":1}')
    return HttpResponse(404, CIMultiDict(), b"")


def _norm(value: Any, ids: dict[str, str]) -> Any:
    """Generated ids numbered in order of appearance (the records' raw ids too); times (ns) as ``T``."""
    if type(value) is bytes:
        return ids.setdefault(value.hex(), f"#{len(ids)}")
    if isinstance(value, str) and value not in _KNOWN and _GENERATED.fullmatch(value):
        return ids.setdefault(value, f"#{len(ids)}")
    if type(value) is int and value > 10**12:
        return "T"
    return value


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _serve(hub: Any, build: Callable[[Any, Any], Any], log: Path) -> tuple[Any, ...]:
    writer = hub.access.writers[0] if hub.access is not None and hub.access.writers else None
    if writer is not None:
        writer.flush()
    log.write_text("")
    hub.tracer.buffer.drain()
    handler: Handler = build(hub, _next)
    assert handler is not None
    answers: list[Any] = []
    for path, query, headers in _REQUESTS:
        request = HttpRequest(
            "GET", path, query, CIMultiDict(headers), remote="10.0.0.1", host="gw:8080", content_length=None
        )
        try:
            response = await handler(request)
            answers.append((path, response.status, dict(response.headers)))
        except BaseException as exc:
            answers.append((path, type(exc).__name__))
    ids: dict[str, str] = {}
    answers = [a if len(a) == 2 else (a[0], a[1], {k: _norm(v, ids) for k, v in a[2].items()}) for a in answers]
    spans = [tuple(_norm(x, ids) for x in record[1:]) for record in hub.tracer.buffer.drain()]
    if writer is not None:
        writer.flush()
    # a gin line without its time and latency
    lines = [re.sub(r"^\[GIN\] [^|]*\|([^|]*)\|[^|]*\|", r"\1|", x) for x in log.read_text().splitlines() if x]
    return answers, spans, lines


def _otel(**extra: Any) -> dict[str, Any]:
    exporter = {"name": "l", "host": "http://127.0.0.1", "port": 9, "use_http": True}
    return {"service_name": "s", "exporters": {"otlp": [exporter]}, **extra}


_STATS = {"collection_time": "60s", "listen_address": "127.0.0.1:0"}
_CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": (_otel(), {}),
    "rate0": (_otel(trace_sample_rate=0), {}),
    "no_request_id": (_otel(), {"request_id_header": ""}),
    "untrusted": (_otel(), {"trust_request_id": False, "return_request_id": False}),
    "skip": (_otel(skip_paths=["/users/1", "/err"]), {}),
    "stats": (_otel(), {"stats": True}),
}


@pytest.mark.parametrize("name", list(_CONFIGS))
async def test_edge_traced_answers_spans_and_lines_as_the_general_handler(name: str, tmp_path: Path) -> None:
    otel, access = _CONFIGS[name]
    log = tmp_path / "access.log"
    extra: dict[str, Any] = {"telemetry/opentelemetry": otel}
    if access.pop("stats", False):
        extra["telemetry/metrics"] = _STATS
    extra["telemetry/access_log"] = {"stdout": False, "file": str(log), **access}
    gateway = await build_gateway(build_service({"version": 3, "endpoints": [], "extra_config": extra}))
    try:
        hub = gateway.resources.state[HUB]
        assert edge_traced.traced_handler(hub, _next) is not None
        traced = await _serve(hub, edge_traced.traced_handler, log)
        general = await _serve(hub, edge._build, log)
    finally:
        await gateway.close()
    assert traced == general
    answers, spans, lines = traced
    # every kind of request answered or raised as it should, and logged when answered
    assert [a[1] for a in answers] == [200] * 6 + [404, 429, "CancelledError", "RuntimeError", 502, 404]
    assert len(lines) >= 8
    if name == "rate0":
        assert spans == [] or all(s for s in spans)
    else:
        assert spans, "a sampled caller's requests record spans"


async def test_edge_traced_server_span_starts_on_the_clock_its_later_spans_read(tmp_path: Path) -> None:
    """A sampled request's SERVER span starts at a wall reading taken at the request's start, on the
    clock the later spans derive from their perf readings (``exchange.wall``), which never runs ahead
    of the wall clock, and lasts what its gin line says to the ns, the line written at its end: a start
    off by the offset, the offset taken late or a span and a line timed apart fail here."""
    log = {"stdout": False, "file": str(tmp_path / "access.log")}
    extra: dict[str, Any] = {"telemetry/opentelemetry": _otel(), "telemetry/access_log": log}
    gateway = await build_gateway(build_service({"version": 3, "endpoints": [], "extra_config": extra}))
    ahead: list[int] = []
    views: list[Any] = []
    times: list[tuple[int, int]] = []

    async def handler(request: HttpRequest) -> HttpResponse:
        exchange = request.context[EXCHANGE]
        views.append(exchange)
        derived = exchange.wall + time.perf_counter_ns()
        ahead.append(derived - time.time_ns())  # the wall clock read after the perf one: never behind
        request.route = "/users/{id}"
        return HttpResponse(200, CIMultiDict(), b"{}")

    try:
        hub = gateway.resources.state[HUB]
        hub.tracer.buffer.drain()
        traced = edge_traced.traced_handler(hub, handler)
        assert traced is not None
        for n, headers in enumerate(({"traceparent": _TP}, {}) * 20):
            before = time.time_ns()
            await traced(HttpRequest("GET", f"/users/{n}", "", CIMultiDict(headers), remote="10.0.0.1", host="gw"))
            after = time.time_ns()
            (record,) = [r for r in hub.tracer.buffer.drain() if r[2] == views[-1].span]
            start, end = record[4], record[5]
            assert before <= start <= end <= after
            assert start == views[-1].wall + views[-1].start == views[-1].start_ns
            times.append((start, end))
        hub.access.writers[0].flush()
    finally:
        await gateway.close()
    assert len(ahead) == 40 and max(ahead) <= 0, ahead
    lines = [line.split(" | ") for line in (tmp_path / "access.log").read_text().splitlines()]
    assert len(lines) == len(times) == 40
    for fields, (start, end) in zip(lines, times, strict=True):
        assert fields[2].strip() == took_text(end - start), (fields, end - start)
        seconds = {time.strftime("%Y/%m/%d - %H:%M:%S", time.localtime(end // 10**9 + d)) for d in (-1, 0, 1)}
        assert fields[0].removeprefix("[GIN] ") in seconds, (fields, end)
