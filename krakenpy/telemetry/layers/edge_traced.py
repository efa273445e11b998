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
from typing import Final

from multidict import CIMultiDict, istr

from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, REQUEST_IDS, Exchange, valid_request_id
from krakenpy.telemetry.hub import FOLD_EVERY, Telemetry
from krakenpy.telemetry.layers.edge_lean import abandoned, edge_parts, gone_line
from krakenpy.telemetry.metrics.slots import EdgeSlot
from krakenpy.telemetry.trace.spans import Record, shape_for, span_base
from krakenpy.telemetry.trace.templates import ServerTemplate

__all__ = ["PER_REQUEST", "HEADER_PREFIXES", "traced_handler"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
_now_ns: Final = time.time_ns
#: what the edge writes on its SERVER span per request (and the header attributes' prefixes)
PER_REQUEST: Final = frozenset({
    "url.full", "server.address", "http.request.method", "user_agent.original", "client.address",
    "http.request.body.size", "http.request.id", "http.route", "http.response.status_code", "http.response.body.size",
})  # fmt: skip
HEADER_PREFIXES: Final = ("http.request.header.", "http.response.header.")
#: an ``istr``: the header map's lookup skips folding its case (round 12, ``trace6``)
_USER_AGENT: Final = istr("User-Agent")


def traced_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The traces configuration's edge handler; ``None`` when more (or less) than it is on."""
    from krakenpy.telemetry.layers.edge import route_label  # the shared label cache (edge imports this module)

    tracer = hub.tracer
    if tracer is None or hub.audit is not None:
        return None
    layer = tracer.global_layer
    if not layer.enabled or layer.report_headers:
        return None  # no SERVER span (the metered or general handler), or header attributes (general)
    shape = shape_for({"krakend.stage": "global", **dict(layer.static)}, PER_REQUEST, HEADER_PREFIXES)
    if shape is None:
        return None  # a static key also written per request: the span as an object (general)
    parts = edge_parts(hub)
    if parts is None:
        return None
    rid_key, trust_id, return_id, render, writer, skip, query, client_ip = parts
    template = ServerTemplate(shape)
    start_trace = tracer.extractor()
    trace_skip = tracer.skip_paths
    add_span = tracer.buffer.add
    # one metrics row per request (EdgeSlot: the series found when it is folded), as edge_metered
    server = hub.server_metrics
    stats = hub.stats if hub.stats_router else None
    slot: EdgeSlot | None = None
    if server is not None or stats is not None:
        slot = EdgeSlot(server, stats, route_label)
        hub.metric_slots().register(slot.drain, slot.size, slot.steps)
    otel_skip = hub.otel_skip_paths
    otel_on = server is not None
    check_skip = otel_on and bool(otel_skip)
    # the histograms' queued values counted every FOLD_EVERY requests (the general handler's rule)
    folding = hub.registry is not None or hub.stats is not None
    fold = hub.fold_metrics
    every = left = FOLD_EVERY

    async def handle(request: HttpRequest) -> HttpResponse:
        nonlocal left
        if folding:
            left -= 1
            if not left:
                left = every
                fold()
        exchange = Exchange()
        start = _perf_ns()
        rid = ""
        if rid_key is not None:
            incoming = request.headers.get(rid_key) if trust_id else None
            rid = exchange.request_id = incoming if incoming and valid_request_id(incoming) else next(REQUEST_IDS)
        request.context[EXCHANGE] = exchange
        token = CURRENT.set(exchange)
        path = request.path
        sid = ""
        start_ns = 0
        if path not in trace_skip:
            trace = exchange.trace = start_trace(request.headers.get)
            if trace.sampled:
                # the request's span ids: one counter step, its spans numbered (the SERVER span 0)
                base = exchange.spans = span_base()
                sid = exchange.span = base + "000"
                # the later spans' clock (their perf readings): the two clocks read back to back, wall
                # first (derived times at most a read early: a span that reads the wall clock itself, as
                # Lambda's does, never starts before its parent; the offset taken against the edge's start
                # read, some µs earlier, put 57 of 60 Lambda spans before their parents)
                offset = exchange.wall = _now_ns() - _perf_ns()
                start_ns = offset + start
        try:
            response = await next_handler(request)
        except Rejection as rejection:  # an edge guard that raises rather than answering: its answer
            request.context[EDGE_DENY] = rejection
            response = HttpResponse(rejection.status, CIMultiDict(rejection.headers), rejection.payload)
        except BaseException as exc:  # a client that went away: its span (KrakenD ends it) and its line
            abandoned(exchange, exc)
            if slot is not None:
                slot.record(request.route, request.method, request.scheme, 500, _perf_ns() - start, 0,
                        path not in otel_skip if check_skip else otel_on)  # fmt: skip
            if sid:
                _server_span(add_span, template, route_label, request, exchange, sid, start_ns,
                             _perf_ns() - start, 500, 0, query, rid)  # fmt: skip
            gone_line(parts, request, exchange, start)
            raise
        finally:
            CURRENT.reset(token)
        end = _perf_ns()
        status = response.status
        if return_id:
            response.headers[rid_key] = rid  # type: ignore[index]
        if slot is not None:
            slot.record(request.route, request.method, request.scheme, status, end - start, len(response.body),
                    path not in otel_skip if check_skip else otel_on)  # fmt: skip
        if sid:
            _server_span(add_span, template, route_label, request, exchange, sid, start_ns, end - start, status,
                         len(response.body), query, rid)  # fmt: skip
        if writer is not None and path not in skip:
            qs = request.query_string
            # the gin tuple (rendered in the writer's batch); the target as Redactor.target writes it
            entry = (end, status, end - start, client_ip(request), request.method,
                     f"{path}?{query(qs)}" if qs else path, exchange.error)  # fmt: skip
            writer.entry(render, entry)  # type: ignore[arg-type]
        return response

    return handle


def _server_span(
    add_span: Callable[[Record], None],
    template: ServerTemplate,
    route_label: Callable[[str | None, int], str],
    request: HttpRequest,
    exchange: Exchange,
    sid: str,
    start_ns: int,
    ns: int,
    status: int,
    size: int,
    query: Callable[[str], str],
    rid: str,
) -> None:
    """The SERVER span's record (``ServerTemplate``'s values), as the general handler writes it."""
    trace = exchange.trace
    path = request.path
    qs = request.query_string
    target = f"{path}?{query(qs)}" if qs else path
    st, message = (2, exchange.error or f"HTTP {status}") if status >= 500 else (0, "")
    add_span((
        template, trace.trace_id, sid, trace.parent_id, start_ns, start_ns + ns, st, message,
        request.method, route_label(request.route, status), target, request.host,
        request.headers.get(_USER_AGENT, ""), request.remote, request.content_length, rid, status, size,
    ))  # fmt: skip
