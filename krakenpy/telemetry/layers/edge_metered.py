"""The edge telemetry layer of a metrics configuration (request id, a batched gin access log or none,
OTel server metrics and/or ``/__stats``, trace context propagated but no server span, no audit): the
general handler's work with its decisions taken at build time and the series updated inline, in one
frame (no ``_observe`` call, no branch for a span, an audit record or a JSON line)."""

from __future__ import annotations

import time
from typing import Final

from multidict import CIMultiDict

from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, REQUEST_IDS, Exchange, valid_request_id
from krakenpy.telemetry.hub import FOLD_EVERY, Telemetry
from krakenpy.telemetry.layers.edge_lean import abandoned, edge_parts, gone_line
from krakenpy.telemetry.metrics.slots import EdgeSlot

__all__ = ["metered_handler"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
#: ``CURRENT``'s set and reset bound once (see ``_set_timing`` in :mod:`krakenpy.telemetry.layers.client`)
_set_current: Final = CURRENT.set
_reset_current: Final = CURRENT.reset


def metered_handler(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler | None:
    """The metrics configuration's edge handler; ``None`` when more (or less) than it is on."""
    from krakenpy.telemetry.layers.edge import route_label  # the shared label cache (edge imports this module)

    server = hub.server_metrics
    stats = hub.stats if hub.stats_router else None
    tracer = hub.tracer
    if server is None and stats is None or hub.audit is not None:
        return None
    if tracer is not None and tracer.global_layer.enabled:
        return None  # server spans: the general handler
    parts = edge_parts(hub)
    if parts is None:
        return None
    rid_key, trust_id, return_id, render, writer, skip, query, client_ip = parts
    start_trace = tracer.extractor() if tracer is not None else None
    trace_skip = tracer.skip_paths if tracer is not None else frozenset()
    otel_skip = hub.otel_skip_paths
    # the series found at the fold, per (route, method, scheme, status): a request appends one row
    # (a native method call compiled: the key reused while it repeats, three columns appended)
    slot = EdgeSlot(server, stats, route_label)
    hub.metric_slots().register(slot.drain, slot.size, slot.steps)
    # whether OTel's server series take a path: decided per request only when some paths are skipped
    otel_on = server is not None
    check_skip = otel_on and bool(otel_skip)
    fold = hub.fold_metrics
    every = left = FOLD_EVERY

    async def handle(request: HttpRequest) -> HttpResponse:
        nonlocal left
        exchange = Exchange()
        start = _perf_ns()
        rid = ""
        if rid_key is not None:
            incoming = request.headers.get(rid_key) if trust_id else None
            rid = exchange.request_id = incoming if incoming and valid_request_id(incoming) else next(REQUEST_IDS)
        request.context[EXCHANGE] = exchange
        token = _set_current(exchange)
        path = request.path
        if start_trace is not None and path not in trace_skip:
            exchange.trace = start_trace(request.headers.get)
        try:
            response = await next_handler(request)
        except Rejection as rejection:  # an edge guard that raises rather than answering: its answer
            request.context[EDGE_DENY] = rejection
            response = HttpResponse(rejection.status, CIMultiDict(rejection.headers), rejection.payload)
        except BaseException as exc:  # a client that went away: counted and logged (KrakenD reports it)
            abandoned(exchange, exc)
            slot.record(request.route, request.method, request.scheme, 500, _perf_ns() - start, 0,
                        path not in otel_skip if check_skip else otel_on)  # fmt: skip
            gone_line(parts, request, exchange, start)
            raise
        finally:
            _reset_current(token)
        end = _perf_ns()
        ns = end - start
        status = response.status
        if return_id:
            response.headers[rid_key] = rid  # type: ignore[index]
        # one row: the series, counters and /__stats keys are found when it is folded (EdgeSlot)
        slot.record(request.route, request.method, request.scheme, status, ns, len(response.body),
                    request.path not in otel_skip if check_skip else otel_on)  # fmt: skip
        left -= 1
        if not left:  # the histograms' queued values counted now and then, so they never pile up
            left = every
            fold()
        if writer is not None and path not in skip:
            qs = request.query_string
            # the gin tuple (rendered in the writer's batch); the target as Redactor.target writes it
            entry = (end, status, ns, client_ip(request), request.method,
                     f"{path}?{query(qs)}" if qs else path, exchange.error)  # fmt: skip
            writer.entry(render, entry)  # type: ignore[arg-type]
        return response

    return handle
