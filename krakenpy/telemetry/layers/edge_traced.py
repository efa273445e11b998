"""The edge telemetry layer of a traces configuration (request id, a batched gin access log or none,
the trace context and the SERVER span, the metrics row when metrics are on; no audit, no header
attributes): the general handler's work with its decisions taken at build time, compiled with the
hot path, in one frame.

An unsampled request pays the trace context (one decision, the caller's ``traceparent`` parsed when
it sent one) and nothing else here; a sampled one appends its SERVER span's record once the response
is known, the same record as the general handler's (``layers/edge.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, cast

from multidict import istr

from krakenpy.edge import EdgeHandler, EdgeVisit, HttpRequest, HttpResponse
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import FOLD_EVERY, Telemetry
from krakenpy.telemetry.layers.edge_lean import EdgeParts, LeanEdge, abandoned, edge_parts, gone_line
from krakenpy.telemetry.metrics.slots import EdgeSlot
from krakenpy.telemetry.trace.context import TraceState
from krakenpy.telemetry.trace.spans import TAIL2, SpanBuffer, request_ids, shape_for
from krakenpy.telemetry.trace.templates import ServerTemplate

__all__ = ["HEADER_PREFIXES", "PER_REQUEST", "TracedEdge", "traced_handler"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
#: the same clock typed ``object`` (``edge_lean``'s ``_perf_obj``): the gin tuple takes the reading's
#: own int object, where an ``int`` reading is boxed again for it (~0.1 k instructions a request)
_perf_obj: Final[Callable[[], object]] = time.perf_counter_ns
_now_ns: Final = time.time_ns
#: ``CURRENT``'s reset bound once (see ``_set_timing`` in :mod:`krakenpy.telemetry.layers.client`)
_reset_current: Final = CURRENT.reset
#: what the edge writes on its SERVER span per request (and the header attributes' prefixes)
PER_REQUEST: Final = frozenset({
    "url.full", "server.address", "http.request.method", "user_agent.original", "client.address",
    "http.request.body.size", "http.request.id", "http.route", "http.response.status_code", "http.response.body.size",
})  # fmt: skip
HEADER_PREFIXES: Final = ("http.request.header.", "http.response.header.")
#: an ``istr``: the header map's lookup skips folding its case (round 12, ``trace6``)
_USER_AGENT: Final = istr("User-Agent")


class TracedEdge(LeanEdge):
    """The traces configuration's edge layer as steps of the server's request coroutine (see
    :class:`~krakenpy.edge.SplitEdge`): the lean layer's work, the trace context, a sampled request's
    SERVER span and the metrics row when metrics are on."""

    def __init__(
        self,
        parts: EdgeParts,
        next_handler: EdgeHandler,
        template: ServerTemplate,
        start_trace: Callable[[Callable[[str], str | None]], TraceState],
        trace_skip: frozenset[str],
        buffer: SpanBuffer,
        route_label: Callable[[str | None, int], str],
        slot: EdgeSlot | None,
        otel_skip: frozenset[str],
        otel_on: bool,
        folding: bool,
        fold: Callable[[], None],
        agents: dict[str, str],
    ) -> None:
        super().__init__(parts, next_handler)
        self.template = template
        self.agent = parts.agent
        #: the redactor's ``User-Agent`` → redacted form cache (``Redactor.agents``), read here as a
        #: native dict; a miss calls ``agent``, which fills and bounds it
        self.agents = agents
        self.start_trace = start_trace
        self.trace_skip = trace_skip
        # the tracer's buffer typed: compiled, its ``add`` a direct call of the native method (a bound
        # ``add`` through a Callable attribute was a vectorcall into its wrapper, ~0.2 k a request)
        self.buffer = buffer
        self.route_label = route_label
        #: the span's ``http.route`` per matched route (the router's template as ``request.route``
        #: carries it): ``route_label``'s answer found once per route, then a dict read compiled, where
        #: each request called it (interpreted) through this attribute (~0.9 k instructions a request);
        #: an unmatched request (no route) asks ``route_label`` each time (its label is per status)
        self.labels: dict[str, str] = {}
        self.slot = slot
        self.otel_skip = otel_skip
        self.otel_on = otel_on
        self.check_skip = otel_on and bool(otel_skip)
        # the histograms' queued values counted every FOLD_EVERY requests (the general handler's rule)
        self.folding = folding
        self.fold = fold
        self.left = FOLD_EVERY

    def enter(self, request: HttpRequest) -> EdgeVisit:
        if self.folding:
            self.left -= 1
            if not self.left:
                self.left = FOLD_EVERY
                self.fold()
        if request.path in self.trace_skip:
            return self.visit(request)
        # the trace decided before the visit: a sampled request reads the wall clock just before the
        # visit's perf reading (its start), and the later spans' clock is the two back to back, wall
        # first, as before (derived times at most a read early: a span that reads the wall clock
        # itself, as Lambda's does, never starts before its parent; the offset taken against the
        # visit's start read, some µs before a wall read, put 57 of 60 Lambda spans before their
        # parents), with one perf read fewer: the span's start is that wall reading itself
        trace = self.start_trace(request.headers.get)
        if not trace.sampled:
            exchange = self.visit(request)
            exchange.trace = trace
            return exchange
        wall = _now_ns()
        exchange = self.visit(request)
        exchange.trace = trace
        # the request's span ids: one counter step, its spans numbered (the SERVER span 0), the
        # trace's ids as the writer copies them
        base = exchange.spans = request_ids(trace)
        exchange.span = base + TAIL2[0]
        exchange.wall = wall - exchange.start
        exchange.start_ns = wall
        return exchange

    def fail(self, visit: EdgeVisit, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        answer = self.refuse(request, exc)
        if answer is not None:
            return answer
        # a client that went away: its span (KrakenD ends it) and its line, then raised on
        exchange = v = cast(Exchange, visit)
        _reset_current(v.token)
        abandoned(exchange, exc)
        slot = self.slot
        if slot is not None:
            slot.record(request.route, request.method, request.scheme, 500, _perf_ns() - v.start, 0,
                        v.path not in self.otel_skip if self.check_skip else self.otel_on)  # fmt: skip
        sid = v.span
        if sid is not None:
            self.server_span(request, v, sid, _perf_ns() - v.start, 500, 0)
        gone_line(self.parts, request, exchange, v.start, v.path)
        return None

    def leave(self, visit: EdgeVisit, request: HttpRequest, response: HttpResponse, lined: bool) -> HttpResponse:
        v = cast(Exchange, visit)
        if not lined or response.status == 101:  # as LeanEdge.leave
            _reset_current(v.token)
        v.token = None
        end = _perf_obj()
        ns = cast(int, end) - v.start
        status = response.status
        if self.return_id:
            self.give_id(v, response, lined)
        slot = self.slot
        if slot is not None:
            slot.record(request.route, request.method, request.scheme, status, ns, len(response.body),
                        v.path not in self.otel_skip if self.check_skip else self.otel_on)  # fmt: skip
        sid = v.span
        if sid is not None:
            self.server_span(request, v, sid, ns, status, len(response.body))
        self.log(request, v, status, end)
        return response

    def server_span(
        self, request: HttpRequest, exchange: Exchange, sid: bytes, ns: int, status: int, size: int
    ) -> None:
        """The SERVER span's record (``ServerTemplate``'s values), as the general handler writes it."""
        trace: TraceState = exchange.trace  # typed: its fields read from the native object
        path = request.path
        masks = self.masks
        if masks is not None:  # an endpoint with a sensitive path parameter
            path = masks.mask(request.route, path, path)
        qs = request.query_string
        target = f"{path}?{self.query(qs)}" if qs else path
        st, message = (2, exchange.error or f"HTTP {status}") if status >= 500 else (0, "")
        route = request.route
        label = self.labels.get(route) if route is not None else None
        if label is None:
            label = self.route_label(route, status)
            if route is not None:
                self.labels[route] = label
        start_ns = exchange.start_ns
        agent = request.headers.get(_USER_AGENT, "")
        # redacted once per distinct agent (clients repeat theirs): a dict read, where the free-text
        # scan of a browser's agent costs ~0.5-4 µs
        shown = self.agents.get(agent)
        if shown is None:
            shown = self.agent(agent)
        self.buffer.add((
            self.template, trace.wire, sid, trace.parent_raw, start_ns, start_ns + ns, st, message,
            request.method, label, target, request.host, shown, request.remote,
            request.content_length, exchange.request_id, status, size,
        ))  # fmt: skip


def traced_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The traces configuration's edge layer (a :class:`TracedEdge`); ``None`` when more (or less)
    than it is on."""
    from krakenpy.telemetry.layers.edge import route_label  # the shared label cache (edge imports this module)

    tracer = hub.tracer
    if tracer is None or hub.audit is not None:
        return None
    layer = tracer.global_layer
    if not layer.enabled or layer.report_headers or tracer.global_route_static:
        # no SERVER span (the metered or general handler), or header attributes or endpoints' own
        # static attributes (general)
        return None
    shape = shape_for({"krakend.stage": "global", **dict(layer.static)}, PER_REQUEST, HEADER_PREFIXES)
    if shape is None:
        return None  # a static key also written per request: the span as an object (general)
    parts = edge_parts(hub)
    if parts is None:
        return None
    # one metrics row per request (EdgeSlot: the series found when it is folded), as edge_metered
    server = hub.server_metrics
    stats = hub.stats if hub.stats_router else None
    slot: EdgeSlot | None = None
    if server is not None or stats is not None:
        slot = EdgeSlot(server, stats, route_label, hub.stats_skip_routes)
        hub.metric_slots().register(slot.drain, slot.size, slot.steps)
    return TracedEdge(
        parts,
        next_handler,
        ServerTemplate(shape),
        tracer.extractor(),
        tracer.skip_paths,
        tracer.buffer,
        route_label,
        slot,
        hub.otel_skip_paths,
        server is not None,
        hub.registry is not None or hub.stats is not None,
        hub.fold_metrics,
        hub.redactor.agents,
    )
