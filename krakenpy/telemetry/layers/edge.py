"""The edge telemetry middleware: request id, server span, RED metrics (OTel and ``/__stats``),
the access log and the audit records of edge guards' answers (:data:`~krakenpy.telemetry.audit.EDGE_DENY`),
in one layer so a request pays one frame for all.

Labels come from ``HttpRequest.route`` (set by the router after ``next``) in KrakenD's stored form
(``/users/:id``); unmatched requests share one value per status (``404 Not Found``).
"""

from __future__ import annotations

import binascii
import logging
import time
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict, istr

from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.telemetry.accesslog import AccessEntry
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, Exchange, new_request_id, valid_request_id
from krakenpy.telemetry.hub import FOLD_EVERY, Telemetry
from krakenpy.telemetry.layers.audit import edge_deny
from krakenpy.telemetry.layers.edge_lean import abandoned, lean_handler
from krakenpy.telemetry.layers.edge_metered import metered_handler
from krakenpy.telemetry.layers.edge_traced import traced_handler
from krakenpy.telemetry.metrics.instruments import gin_route, unmatched_route
from krakenpy.telemetry.metrics.slots import EdgeSlot
from krakenpy.telemetry.trace.spans import SERVER, TAIL2, Span, request_ids, shape_for
from krakenpy.telemetry.trace.templates import INT64_END, ServerTemplate

__all__ = ["debug_logger", "edge_middleware", "route_label"]

_perf_ns = time.perf_counter_ns
_now_ns = time.time_ns
_wall = time.time
_unhex = binascii.unhexlify
_routes: dict[str, str] = {}
#: what the edge writes on its SERVER span per request (and the header attributes' prefixes)
_PER_REQUEST = frozenset({
    "url.full", "server.address", "http.request.method", "user_agent.original", "client.address",
    "http.request.body.size", "http.request.id", "http.route", "http.response.status_code", "http.response.body.size",
})  # fmt: skip
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")


def route_label(route: str | None, status: int) -> str:
    """The label of a request's route: KrakenD's stored form, or the shared unmatched value."""
    if route is None:
        return unmatched_route(status)
    label = _routes.get(route)
    if label is None:
        label = _routes[route] = gin_route(route)
    return label


def edge_middleware(hub: Telemetry) -> EdgeMiddleware | None:
    """The edge layer of the telemetry in ``hub``; ``None`` when nothing is on."""
    if not hub.per_request:
        return None

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        return (
            lean_handler(hub, next_handler)
            or metered_handler(hub, next_handler)
            or traced_handler(hub, next_handler)
            or _build(hub, next_handler)
        )

    return middleware


def _build(hub: Telemetry, next_handler: EdgeHandler) -> EdgeHandler:
    rid_header = hub.request_id_header
    # an istr key: multidict skips folding the name's case on every lookup and store (~0.5k instructions each)
    rid_key = istr(rid_header) if rid_header is not None else None
    trust_id = hub.trust_request_id
    return_id = hub.return_request_id and rid_header is not None
    access = hub.access
    fmt = access.format if access is not None else None
    writers = access.writers if access is not None else ()
    access_skip = access.skip_paths if access is not None else frozenset()
    access_gelf = access.gelf if access is not None else None
    render = access.gin if access is not None else None
    # gin lines are queued as tuples and rendered in the writer's batch (GELF takes each line at once)
    gin_batched = render is not None and access_gelf is None
    single_writer = writers[0] if len(writers) == 1 else None
    # gin's entries carry the monotonic end (the renderer converts it once per batch)
    wall_clock = fmt is not None and render is None
    redactor = hub.redactor
    client_ip = hub.client_ip
    server = hub.server_metrics
    otel_skip = hub.otel_skip_paths
    stats = hub.stats if hub.stats_router else None
    tracer = hub.tracer
    trace_global = tracer is not None and tracer.global_layer.enabled
    end_span = tracer.buffer.end if tracer is not None else None
    # the stage and the global layer's static attributes as one shape encoded once (none when a
    # static key is also written per request: then every attribute stays on the span as before)
    # endpoints with their own global static attributes: every attribute on the span object, the
    # service's replaced by the endpoint's once the route is known (only such configurations)
    route_static = tracer.global_route_static if tracer is not None else {}
    service_static = tuple(k for k, _ in tracer.global_layer.static) if tracer is not None else ()
    shape = (
        shape_for({"krakend.stage": "global", **dict(tracer.global_layer.static)}, _PER_REQUEST, _HEADER_PREFIXES)
        if tracer is not None and not route_static
        else None
    )
    # the SERVER span as a record of its template (values only); without a shape or with header
    # attributes (their keys vary) the span stays an object written field by field
    template = (
        ServerTemplate(shape) if shape is not None and tracer is not None and not tracer.global_layer.report_headers
        else None
    )  # fmt: skip
    add_span = tracer.buffer.add if tracer is not None else None
    audit = hub.audit
    masks = redactor.paths

    # one row per request: the series, counters and /__stats keys are found when it is folded
    record = None
    check_skip = False
    if server is not None or stats is not None:
        slot = EdgeSlot(server, stats, route_label, hub.stats_skip_routes)
        hub.metric_slots().register(slot.drain, slot.size, slot.steps)
        record = slot.record
        check_skip = server is not None and bool(otel_skip)

    tracing = tracer is not None
    start_trace = tracer.extractor() if tracer is not None else None
    # what runs after the response, decided here: the default (access log + request id) skips the rest
    # (with traces only, an unsampled request has no span: nothing to observe)
    metered = server is not None or stats is not None
    logging_on = access is not None
    # the histograms' queued values counted every FOLD_EVERY requests, so they never pile up
    folding = hub.registry is not None or hub.stats is not None
    fold = hub.fold_metrics
    left = FOLD_EVERY

    async def handle(request: HttpRequest) -> HttpResponse:
        nonlocal left
        if folding:
            left -= 1
            if not left:
                left = FOLD_EVERY
                fold()
        exchange = Exchange()
        start = _perf_ns()
        wall = _wall() if wall_clock else 0.0
        rid = ""
        if rid_key is not None:
            incoming = request.headers.get(rid_key) if trust_id else None
            rid = exchange.request_id = incoming if incoming and valid_request_id(incoming) else new_request_id()
        request.context[EXCHANGE] = exchange
        exchange.client_headers = request.headers
        exchange.client_query = request.query_string
        exchange.path = request.path
        token = CURRENT.set(exchange)
        span = None
        sid = None
        target = None
        path = request.path
        if tracing and path not in tracer.skip_paths:  # type: ignore[union-attr]
            assert tracer is not None
            trace = exchange.trace = start_trace(request.headers.get)  # type: ignore[misc]
            if trace.sampled:
                # the request's span ids: one counter step, its spans numbered (the SERVER span 0)
                base = exchange.spans = request_ids(trace)
                if trace_global and template is not None:  # the record is written after the response
                    sid = exchange.span = base + TAIL2[0]
                    # the later spans' clock (their perf readings): the two clocks read back to back, wall
                    # first (derived times at most a read early: a span that reads the wall clock itself, as
                    # Lambda's does, never starts before its parent; the offset taken against the edge's start
                    # read, some µs earlier, put 57 of 60 Lambda spans before their parents)
                    offset = exchange.wall = _now_ns() - _perf_ns()
                    start_ns = offset + start
            if trace.sampled and trace_global and template is None:
                target = redactor.target(path, request.query_string)  # the route unknown yet: set again below
                attrs: dict[str, Any] = {
                    "url.full": target,
                    "server.address": request.host,
                    "http.request.method": request.method,
                    "user_agent.original": redactor.agent(request.headers.get("User-Agent", "")),
                    "client.address": request.remote,
                }
                body = request.content_length
                if body is not None and 0 <= body < INT64_END:  # a client's header: out of int64, left off
                    attrs["http.request.body.size"] = body
                if rid:
                    attrs["http.request.id"] = rid
                layer = tracer.global_layer
                if shape is None:
                    attrs["krakend.stage"] = "global"
                    attrs.update(layer.static)
                if layer.report_headers:
                    # an endpoint with a sensitive path parameter: the request's own value in a header
                    # (its page's URL as Referer) masked as in texts
                    secrets = exchange.secrets(redactor) if masks is not None else ()
                    attrs.update(
                        tracer.header_attributes("http.request.header", request.headers.items(), layer, secrets)
                    )
                span = Span(trace.trace_id, trace.parent_id, request.method, SERVER, attrs)
                exchange.span = _unhex(span.span_id)
                span.static = shape
        failure: BaseException | None = None
        try:
            response = await next_handler(request)
        except Rejection as rejection:  # an edge guard that raises rather than answering: its answer
            request.context[EDGE_DENY] = rejection
            response = HttpResponse(rejection.status, CIMultiDict(rejection.headers), rejection.payload)
        except BaseException as exc:  # re-raised below, once the request is recorded
            # a client that went away (or a bug the server answers with 500): KrakenD's tracking
            # handler ends the server span and reports the metrics always, with lura's 500
            failure = exc
            response = abandoned(exchange, exc)
        finally:
            CURRENT.reset(token)
        ns = _perf_ns() - start
        status = response.status
        if masks is not None:  # an endpoint with a sensitive path parameter: the route's target
            target = redactor.route_target(request.route, request.path, path, request.query_string)
            if span is not None:
                span.attributes["url.full"] = target
        if audit is not None and status >= 400:
            denied = request.context.get(EDGE_DENY)
            if denied is not None:
                edge_deny(hub, request, exchange, denied, status)
        if return_id:
            response.headers[rid_key] = rid  # type: ignore[index]
        if metered or span is not None:
            _observe(request, response, ns, status, span, exchange)
        if sid is not None:
            if target is None:
                target = redactor.target(path, request.query_string)
            trace = exchange.trace
            st, message = (2, exchange.error or f"HTTP {status}") if status >= 500 else (0, "")
            add_span((  # type: ignore[misc]
                template, trace.wire, sid, trace.parent_raw, start_ns, start_ns + ns, st, message,
                request.method, route_label(request.route, status), target, request.host,
                redactor.agent(request.headers.get("User-Agent", "")), request.remote, request.content_length, rid,
                status, len(response.body),
            ))  # fmt: skip
        if logging_on and path not in access_skip:
            if target is None:
                target = redactor.target(path, request.query_string)
            if render is not None:
                entry = (start + ns, status, ns, client_ip(request), request.method, target, exchange.error)
                if not gin_batched:
                    line = render((entry,))
                    for writer in writers:
                        writer.write(line)
                    if access_gelf is not None:
                        access_gelf(line, rid)
                elif single_writer is not None:
                    single_writer.entry(render, entry)
                else:
                    for writer in writers:
                        writer.entry(render, entry)
            elif fmt is not None:
                _json_line(request, response, ns, wall, exchange, target)
        if failure is not None:
            raise failure
        return response

    def _observe(
        request: HttpRequest, response: HttpResponse, ns: int, status: int, span: Span | None, exchange: Exchange
    ) -> None:
        """Metrics and the server span of a finished request (only built in when one is on)."""
        route = request.route
        size = len(response.body)
        if record is not None:
            record(route, request.method, request.scheme, status, ns, size,
                   request.path not in otel_skip if check_skip else server is not None)  # fmt: skip
        if span is not None:
            assert tracer is not None
            label = route_label(route, status)
            span.name = f"{request.method} {label}"
            attrs = span.attributes
            attrs["http.route"] = label
            if route_static:
                own = route_static.get((label, request.method))
                if own is not None:
                    for key in service_static:
                        attrs.pop(key, None)
                    attrs.update(own)
            attrs["http.response.status_code"] = status
            attrs["http.response.body.size"] = size
            if status >= 500:
                span.error(exchange.error or f"HTTP {status}")
            if tracer.global_layer.report_headers:
                attrs.update(
                    tracer.header_attributes("http.response.header", response.headers.items(), tracer.global_layer)
                )
            end_span(span)  # type: ignore[misc]

    def _json_line(
        request: HttpRequest, response: HttpResponse, ns: int, wall: float, exchange: Exchange, target: str
    ) -> None:
        """A JSON, Common or Combined access line (an entry object: these formats read most fields)."""
        assert fmt is not None
        latency = ns * 1e-9
        trace_state = exchange.trace
        line = fmt(
            AccessEntry(
                end=wall + latency,
                status=response.status,
                latency=latency,
                client_ip=client_ip(request),
                method=request.method,
                target=target,
                route=request.route,
                request_id=exchange.request_id,
                trace_id=trace_state.trace_id if trace_state is not None else "",
                upstream=exchange.upstream,
                bytes_in=request.content_length or 0,
                bytes_out=len(response.body),
                user_agent=redactor.text(request.headers.get("User-Agent", "")),
                referer=redactor.text(request.headers.get("Referer", ""))
                if masks is None
                else redactor.referer(request.headers.get("Referer", ""), exchange.secrets(redactor)),
                subject=exchange.subject,
                error=exchange.error,
                errors=(exchange.error,) if exchange.error is not None else (),
                protocol=request.protocol,
            )
        )
        for writer in writers:
            writer.write(line)
        if access_gelf is not None:
            access_gelf(line, exchange.request_id)

    return handle


def debug_logger(hub: Telemetry) -> Callable[[HttpRequest, bytes], None]:
    """What ``/__debug/`` logs (KrakenD: the whole request at DEBUG), through the redactor:
    credential headers masked, query secrets masked, JSON bodies redacted, other bodies summarised."""
    log = logging.getLogger("krakenpy.debug")
    redactor = hub.redactor

    def describe(request: HttpRequest, body: bytes) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "method=%s url=%s headers=%s body=%s",
            request.method,
            redactor.target(request.path, request.query_string),
            dict(redactor.headers(request.headers.items())),
            redactor.body(body, request.headers.get("Content-Type", "")),
        )

    return describe
