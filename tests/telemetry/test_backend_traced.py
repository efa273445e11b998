"""The backend layer's lean traced coroutine (``layers/backend.py``'s ``_traced``: a sampled
request's one backend called once) against the general one it stands in for: the same backend span
record (its OTLP bytes), the same duration rows, failure lines, forwarded id and header map after the
call, for every outcome of the call below (an answer, an incomplete one, a pipeline error with a
status, a plain error, a timeout, the endpoint's deadline, a cancel, a ``BaseException``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from krakenpy.config.build import build_service
from krakenpy.errors import BackendError, PipelineError
from krakenpy.proxy.deadline import DEADLINE
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers import backend as backend_module
from krakenpy.telemetry.layers.backend import backend_middleware, executor_forward
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.otlp import spans_proto
from krakenpy.telemetry.trace.context import Sampler, TraceState
from krakenpy.telemetry.trace.spans import SpanBuffer, request_ids
from krakenpy.telemetry.trace.tracer import Tracer

_PURE = str(backend_module.__file__).endswith(".py")
SECRET = "access_token=s3cret"
_CALL_SLOT = backend_module.call_slot
#: a backend-level layer below the telemetry layer that reads the headers: the layer forwards the id
_LUA_BELOW = {"modifier/lua-backend": {"pre": "local r = request.load()"}}


class _Rows(list[int]):
    """A layer's outcome list as the test sees it: each row noted with its outcome, then appended to
    the slot's own list (the layer appends to ``adds[outcome]``)."""

    def __init__(self, outcome: int, own: list[int], rows: list[tuple[int, int]]) -> None:
        super().__init__()
        self.outcome, self.own, self.rows = outcome, own, rows

    def append(self, elapsed: int) -> None:
        self.rows.append((self.outcome, elapsed))
        self.own.append(elapsed)


class _Stop(BaseException):
    """Neither an ``Exception`` nor a cancel (as ``GeneratorExit``, ``KeyboardInterrupt``)."""


OUTCOMES = ["ok", "partial", "fail", "boom", "timeout", "deadline", "cancel", "stop"]


def _answer(outcome: str, seen: list[Any]) -> Proxy:
    async def proxy(request: Request) -> Response:
        await asyncio.sleep(0)
        seen.append(dict(request.headers))
        if outcome == "ok":
            return Response(data={"a": 1})
        if outcome == "partial":
            return Response(data={"a": 1}, is_complete=False, errors=(BackendError("one lost"),))
        if outcome == "fail":
            raise PipelineError(f"upstream said no at http://h/o?{SECRET}", status=502)
        if outcome == "boom":
            raise RuntimeError(f"broken http://h/o?{SECRET}")
        if outcome == "timeout":
            raise BackendError("backend timeout [GET]: http://h/o")
        if outcome == "deadline":
            raise asyncio.CancelledError(DEADLINE)
        if outcome == "cancel":
            raise asyncio.CancelledError
        raise _Stop

    return proxy


async def _run(
    lean: bool, outcome: str, extra: dict[str, Any], stats: bool, wall: int, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """One call through the layer built lean or general; everything it left behind."""
    backend = {"host": ["http://h"], "url_pattern": "/o", "extra_config": extra}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/orders/{id}", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    if stats:
        hub.stats = StatsRegistry()
    buffer = SpanBuffer()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=("tracecontext",), buffer=buffer, redactor=hub.redactor)
    clock = iter(range(10**9, 10**10, 1_234_567))
    if _PURE:  # the same times in both runs (compiled, the clocks are C statics: the times are left out)
        monkeypatch.setattr(backend_module, "_perf_ns", lambda: next(clock))
        monkeypatch.setattr(backend_module, "_now_ns", lambda: 1_700_000_000_000_000_000 + next(clock))
    monkeypatch.setattr(backend_module, "LEAN_TRACED", lean)
    rows: list[tuple[int, int]] = []
    if _PURE:  # the duration rows by outcome (compiled, call_slot is called natively: /__stats' counters below)

        def call_slot(*args: Any) -> Any:
            return tuple(_Rows(i, own, rows) for i, own in enumerate(_CALL_SLOT(*args)))

        monkeypatch.setattr(backend_module, "call_slot", call_slot)
    proxy = backend_middleware(hub, endpoint, endpoint.backends[0])(_answer(outcome, seen := []))
    # the form built (compiled, a nested function is an object of a class named after it)
    assert ("_traced" in getattr(proxy, "__qualname__", type(proxy).__name__)) is lean
    request = Request(
        method="GET", path="/orders/1", params={"Id": "1"}, headers={"Accept": ["*/*"]}, query={},
        client_ip="203.0.113.7", client_path="/orders/1", endpoint="/orders/{id}",
    )  # fmt: skip
    exchange = request.context[EXCHANGE] = Exchange()
    exchange.request_id = "rid-1"
    exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
    request_ids(exchange.trace)  # the trace's wire (the random span-id head is not used: the same in both)
    exchange.spans = b"\x01\x02\x03\x04\x05\x06"
    exchange.span = exchange.spans + b"\x00\x00"
    exchange.made = 3
    exchange.wall = wall
    if wall:  # a proxy layer's span: the backend span's parent
        exchange.proxy_span = b"\x01\x02\x03\x04\x05\x06\x00\x01"
    headers = request.headers
    logger = logging.getLogger("krakenpy.failures")
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        await proxy(request)
        raised = "ok"
    except BaseException as exc:  # the outcome is compared
        raised = f"{type(exc).__name__}{exc.args}"
    finally:
        logger.removeHandler(handler)
    records = buffer.drain()
    assert len(records) == 1
    (record,) = records
    timeless = record if _PURE else record[:4] + record[6:]
    return {
        "raised": raised,
        "record": (type(record[0]), *timeless[1:]),
        "otlp": spans_proto(records, b"") if _PURE else None,
        "seen": seen,
        "after": (request.headers is headers, dict(request.headers), dict(headers)),
        "exchange": (exchange.made, exchange.backend_span),
        "lines": lines,
        "rows": rows,
        "stats": sorted(
            (key, value)
            for key, value in (hub.stats.snapshot() if hub.stats is not None else {}).items()
            if key.startswith("krakend.proxy.requests.layer.")
        ),
        "forward": executor_forward(hub, endpoint.backends[0]),
    }


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("extra", [{}, _LUA_BELOW], ids=["executor-id", "layer-id"])
@pytest.mark.parametrize("stats", [False, True], ids=["spans", "stats"])
@pytest.mark.parametrize("wall", [0, 1_700_000_000_000_000_000 - 10**9], ids=["bare", "wall-proxy-span"])
async def test_lean_traced_backend_layer_records_as_the_general_one(
    outcome: str, extra: dict[str, Any], stats: bool, wall: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean = await _run(True, outcome, extra, stats, wall, monkeypatch)
    general = await _run(False, outcome, extra, stats, wall, monkeypatch)
    assert lean == general
    assert (
        bool(lean["stats"]) is stats
        and bool(lean["rows"]) is (stats and _PURE)
        and lean["lines"] == (outcome in ("fail", "boom", "timeout")) * lean["lines"]
    )
    assert len(lean["lines"]) == (outcome in ("fail", "boom", "timeout"))
    # the record is the call's: its id the exchange's fourth, its parent the request's span
    record = lean["record"]
    assert record[2] == b"\x01\x02\x03\x04\x05\x06" + record[2][6:]
    assert record[3] == b"\x01\x02\x03\x04\x05\x06\x00" + (b"\x01" if wall else b"\x00")
    assert lean["exchange"] == (4, record[2])
    if extra:
        assert [h.get("X-Request-Id") for h in lean["seen"]] == [["rid-1"]]
    assert not any("s3cret" in line for line in lean["lines"])


async def test_lean_traced_backend_layer_leaves_unsampled_calls_to_the_general_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unsampled request (and one without an exchange) goes through the general coroutine: no span."""
    backend = {"host": ["http://h"], "url_pattern": "/o"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    buffer = SpanBuffer()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=("tracecontext",), buffer=buffer, redactor=hub.redactor)
    proxy = backend_middleware(hub, endpoint, endpoint.backends[0])(_answer("ok", []))
    for sampled in (False, None):
        request = Request(
            method="GET", path="/a", params={}, headers={}, query={},
            client_ip="203.0.113.7", client_path="/a", endpoint="/a",
        )  # fmt: skip
        if sampled is not None:
            exchange = request.context[EXCHANGE] = Exchange()
            exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", sampled)
        assert (await proxy(request)).data == {"a": 1}
    assert buffer.drain() == []
