"""The edge telemetry layer of a metrics configuration (request id, a batched gin access log or none,
OTel server metrics and/or ``/__stats``, trace context propagated but no server span, no audit): the
general handler's work with its decisions taken at build time and the series updated inline, in one
frame (no ``_observe`` call, no branch for a span, an audit record or a JSON line)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, cast

from krakenpy.edge import EdgeHandler, EdgeVisit, HttpRequest, HttpResponse
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import FOLD_EVERY, Telemetry
from krakenpy.telemetry.layers.edge_lean import EdgeParts, LeanEdge, abandoned, edge_parts, gone_line
from krakenpy.telemetry.metrics.slots import EdgeSlot
from krakenpy.telemetry.trace.context import TraceState

__all__ = ["MeteredEdge", "metered_handler"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
#: ``CURRENT``'s reset bound once (see ``_set_timing`` in :mod:`krakenpy.telemetry.layers.client`)
_reset_current: Final = CURRENT.reset


class MeteredEdge(LeanEdge):
    """The metrics configuration's edge layer as steps of the server's request coroutine (see
    :class:`~krakenpy.edge.SplitEdge`): the lean layer's work, the trace context (propagated) and one
    metrics row a request."""

    def __init__(
        self,
        parts: EdgeParts,
        next_handler: EdgeHandler,
        slot: EdgeSlot,
        start_trace: Callable[[Callable[[str], str | None]], TraceState] | None,
        trace_skip: frozenset[str],
        otel_skip: frozenset[str],
        otel_on: bool,
        fold: Callable[[], None],
    ) -> None:
        super().__init__(parts, next_handler)
        self.slot = slot
        self.start_trace = start_trace
        self.trace_skip = trace_skip
        self.otel_skip = otel_skip
        self.otel_on = otel_on
        # whether OTel's server series take a path: decided per request only when some paths are skipped
        self.check_skip = otel_on and bool(otel_skip)
        self.fold = fold
        self.left = FOLD_EVERY

    def enter(self, request: HttpRequest) -> EdgeVisit:
        visit = self.visit(request)
        start_trace = self.start_trace
        if start_trace is not None and request.path not in self.trace_skip:
            visit.trace = start_trace(request.headers.get)
        return visit

    def fail(self, visit: EdgeVisit, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        answer = self.refuse(request, exc)
        if answer is not None:
            return answer
        # a client that went away: counted and logged (KrakenD reports it), then raised on
        v = cast(Exchange, visit)
        _reset_current(v.token)
        abandoned(v, exc)
        self.slot.record(request.route, request.method, request.scheme, 500, _perf_ns() - v.start, 0,
                         v.path not in self.otel_skip if self.check_skip else self.otel_on)  # fmt: skip
        gone_line(self.parts, request, v, v.start, v.path)
        return None

    def leave(self, visit: EdgeVisit, request: HttpRequest, response: HttpResponse, lined: bool) -> HttpResponse:
        v = cast(Exchange, visit)
        if not lined or response.status == 101:  # as LeanEdge.leave
            _reset_current(v.token)
        v.token = None
        end = _perf_ns()
        status = response.status
        if self.return_id:
            self.give_id(v, response, lined)
        # one row: the series, counters and /__stats keys are found when it is folded (EdgeSlot)
        self.slot.record(request.route, request.method, request.scheme, status, end - v.start, len(response.body),
                         v.path not in self.otel_skip if self.check_skip else self.otel_on)  # fmt: skip
        self.left -= 1
        if not self.left:  # the histograms' queued values counted now and then, so they never pile up
            self.left = FOLD_EVERY
            self.fold()
        self.log(request, v, status, end)
        return response


def metered_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The metrics configuration's edge layer (a :class:`MeteredEdge`); ``None`` when more (or less)
    than it is on."""
    from krakenpy.telemetry.layers.edge import route_label  # the shared label cache (edge imports this module)

    server = hub.server_metrics
    stats = hub.stats if hub.stats_router else None
    tracer = hub.tracer
    if server is None and stats is None or hub.audit is not None:
        return None
    if tracer is not None and (
        tracer.global_layer.enabled or tracer.proxy_layer.enabled or tracer.backend_layer.enabled
    ):
        # spans (a SERVER span, or proxy/backend spans under a disabled global layer): the general
        # handler, which makes the sampled request's span-id head (this layer only propagates)
        return None
    parts = edge_parts(hub)
    if parts is None:
        return None
    # the series found at the fold, per (route, method, scheme, status): a request appends one row
    # (a native method call compiled: the key reused while it repeats, three columns appended)
    slot = EdgeSlot(server, stats, route_label, hub.stats_skip_routes)
    hub.metric_slots().register(slot.drain, slot.size, slot.steps)
    return MeteredEdge(
        parts,
        next_handler,
        slot,
        tracer.extractor() if tracer is not None else None,
        tracer.skip_paths if tracer is not None else frozenset(),
        hub.otel_skip_paths,
        server is not None,
        hub.fold_metrics,
    )
