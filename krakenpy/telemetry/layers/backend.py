"""Backend-layer telemetry (one per backend, inside the request builder: ``request.url`` is set).

- failures logged once as ``[ENDPOINT: /x][BACKEND: /y] …`` (always on);
- the backend span and ``krakend.backend.duration``, krakend-metrics' ``layer.backend``;
- Lambda backends (no HTTP client layer below): the CLIENT span, upstream timing, and the trace
  context in the event ``headers`` (API-Gateway payloads) and in Invoke's ``ClientContext``
  (``custom.traceparent``; see :mod:`krakenpy.telemetry.layers.lambda_context`).
"""

from __future__ import annotations

import asyncio
import binascii
import time
from collections.abc import Coroutine
from typing import Any, Final

from krakenpy.components import registry
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.proxy.deadline import DEADLINE
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response, keeps_maps, task_free
from krakenpy.telemetry.exchange import EXCHANGE, Exchange, current_secrets
from krakenpy.telemetry.failures import error_text, log_failure
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.record import Adds, call_slot, exported_parent
from krakenpy.telemetry.metrics.instruments import gin_route, lura_pattern
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.context import TraceState, propagator_fields
from krakenpy.telemetry.trace.spans import CLIENT, SPAN, TAIL2, Span, shape_for
from krakenpy.telemetry.trace.templates import CallTemplate

__all__ = ["backend_middleware", "executor_forward"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
_now_ns: Final = time.time_ns
_unhex: Final = binascii.unhexlify
LAMBDA = "backend/lambda"
#: what the backend layer writes on its span per request
_PER_REQUEST = frozenset({"http.response.status_code", "complete", "canceled"})
#: the usual traced call (a sampled request, one backend called once, not Lambda) by :func:`_traced`'s
#: lean coroutine; ``False``: by the general one (read when a layer is built; the differential test
#: of ``tests/telemetry/test_backend_traced.py`` builds both)
LEAN_TRACED = True
#: the backend-level namespaces below this layer (``registry.BACKEND``'s order) that never read the
#: request's headers: the id need not be among them while they run
_HEADER_BLIND = frozenset({"qos/circuit-breaker", "qos/ratelimit/proxy", "modifier/response-body", "modifier/jmespath"})


def executor_forward(hub: Telemetry, backend: BackendConfig) -> str | None:
    """The header the core HTTP executor adds the forwarded request id in itself (``backends/http.py``),
    decided at start-up for one backend; ``None`` when this layer puts it in a copy of the request's
    header map for the call instead (or no id is forwarded).

    The executor's way when nothing between this layer and it can read the request's headers: the
    backend is called by the HTTP executor (no executor namespace: a Lambda, gRPC, AMQP executor reads
    them) and each backend-level namespace below this layer is one known not to read them (Lua, CEL,
    policies, a response body template or a plugin may). The client layer (martian, the HTTP cache,
    OAuth2) gets the executor's header pairs either way, the id among them. The copy, per request,
    cost ~1.5 k instructions compiled (round 15, ``acclog5``)."""
    name = hub.request_id_header
    if not hub.forward_request_id or name is None:
        return None
    present = backend.extra_config
    if any(namespace in present for namespace in registry.EXECUTOR):
        return None
    below = registry.BACKEND[registry.BACKEND.index("telemetry/access_log") + 1 :]
    if any(namespace in present and namespace not in _HEADER_BLIND for namespace in below):
        return None
    return name


def backend_middleware(hub: Telemetry, endpoint: EndpointConfig, backend: BackendConfig) -> Middleware:
    """The backend layer of the telemetry for one backend."""
    redactor = hub.redactor
    # metric labels, /__stats keys and span names carry the pattern: its secret query values masked
    pattern = redactor.text(lura_pattern(backend.url_pattern))
    prefix = redactor.text(f"[ENDPOINT: {endpoint.endpoint}][BACKEND: {pattern}]")
    tracer = hub.tracer
    layer = tracer.backend_layer if tracer is not None else None
    ep_route = gin_route(endpoint.endpoint)
    trace_on = tracer is not None and layer is not None and layer.enabled and ep_route not in tracer.skip_paths
    route = redactor.text(gin_route(backend.url_pattern))
    otel = (
        hub.backend_metrics.recorder(route, backend.method, ep_route, endpoint.method)
        if hub.backend_metrics is not None
        else None
    )
    stats = hub.stats if hub.stats is not None and hub.stats_backend else None
    stats_keys: dict[tuple[bool, bool], tuple[str, Any]] = {}
    if stats is not None:
        for complete in (True, False):
            for error in (True, False):
                name = f"backend.name.{pattern}.complete.{str(complete).lower()}.error.{str(error).lower()}"
                stats_keys[(complete, error)] = (
                    stats.counter_key(f"proxy.requests.layer.{name}"),
                    stats.histogram(f"proxy.latency.layer.{name}"),
                )
    is_lambda = LAMBDA in backend.extra_config
    lambda_options = backend.extra_config.get(LAMBDA) or {}
    function_name = str(lambda_options.get("function_name") or "") if isinstance(lambda_options, dict) else ""
    region = str(lambda_options.get("region") or "") if isinstance(lambda_options, dict) else ""
    base_attrs: dict[str, Any] = {
        "http.request.method": backend.method,
        "http.route": route,
        "krakend.endpoint.route": ep_route,
        "krakend.endpoint.method": endpoint.method,
        "krakend.stage": "backend",
    }
    if layer is not None:
        base_attrs.update(layer.static)
    # the fixed attributes as one shape encoded once (unless a static key is also written per request)
    shape = shape_for(base_attrs, _PER_REQUEST)
    template = CallTemplate(pattern, shape, base_attrs)
    # one backend called once per request: its CLIENT span finds its parent on the exchange (the
    # client layer decides the same); merged backends run concurrently, each with its own parent in
    # a context variable (as do concurrent_calls' copies and a Lambda call's ClientContext hook)
    solo = len(endpoint.backends) == 1 and endpoint.concurrent_calls <= 1 and backend.concurrent_calls <= 1
    solo = solo and not is_lambda
    # the id in a copy of the header map, unless the HTTP executor adds it (it then reads the exchange)
    direct = executor_forward(hub, backend) is not None
    forward_id = hub.forward_request_id and hub.request_id_header is not None and not direct
    rid_header = hub.request_id_header or ""

    if not trace_on and otel is None and stats is None and not is_lambda:
        # failure logs and the request id only: one frame, no clock reads
        def lean(next_proxy: Proxy) -> Proxy:
            if direct:  # the executor forwards the id; nothing below changes the header map
                return _logged(next_proxy, prefix, redactor)
            return _lean(next_proxy, forward_id, rid_header, prefix, redactor)

        # nothing is bound to a task; a merge's backends may share the caller's header map: the id
        # goes into a copy. (Marked by calls, not decorators: mypyc stores a decorated nested
        # function in the module's globals, which kept the last layer built, and its gateway, alive.)
        return task_free(keeps_maps(lean))

    adds = call_slot(hub, otel, stats, stats_keys)
    if not trace_on and not is_lambda:
        # metrics but no backend span (the tracer, if any, only propagates): one frame, one row
        # appended (the general frame's trace checks and ``finish`` call cost ~55 Python
        # opcodes per request, 2026-12-01)
        def metered(next_proxy: Proxy) -> Proxy:
            return _metered(next_proxy, adds, forward_id, rid_header, prefix, redactor)

        return keeps_maps(metered)  # the id goes into a copy of the header map

    state = _General(
        hub, adds, template, prefix, pattern, function_name, region, trace_on, solo, is_lambda, forward_id, rid_header
    )

    def middleware(next_proxy: Proxy) -> Proxy:
        if trace_on and solo and not is_lambda and LEAN_TRACED:
            return _traced(next_proxy, state)
        return _general(next_proxy, state)

    # its span variable is set in the context the call runs in, nothing else is bound to a task
    return task_free(middleware)


def _with_id(headers: Headers, name: str, request_id: str) -> Headers:
    """The backend request's header map with the forwarded request id: a copy, set on the request
    for the call below; after it the id is taken back out of it (:func:`_take_id_back`).

    The id belongs to the backend's outgoing request only, as in lura where each backend gets a clone
    of the request: martian, CEL and Lua layers at the backend level below this layer see it; proxy- and
    endpoint-level scripts never do, on every path (lean, metered, traced, whatever sits between). A
    copy, not a store into the map, because a merge's backends may share one map (``Request.share``);
    ``dict.copy`` clones the table, where ``{**headers, name: [id]}`` inserted each key again (~40 %
    dearer, timeit). A header of that name the client sent is replaced (one entry, the id), as is one
    the gateway writes itself (``Accept-Encoding``: the executor adds its own only when the map has
    none)."""
    out = headers.copy()
    out[name] = [request_id]
    return out


def _take_id_back(request: Request, own: Headers, name: str) -> None:
    """After the call: the id out of the map the request now carries (the copy, or one a layer below
    put there), the request's own value of that header back in it. The map stays: a backend-level
    layer's own writes (a Lua ``pre`` script's header) are kept where they were without the id, seen
    above on a one-backend endpoint as in lura, whose request builder shares the header map."""
    headers = request.headers
    prior = own.get(name)
    if prior is None:
        headers.pop(name, None)
    else:
        headers[name] = prior


# The per-request coroutines are built by module-level factories (nested one function deep): mypy
# 2.4's mypyc miscompiled them nested two deep inside ``backend_middleware`` (the first call
# failed: "attribute 'observed' of '..._env' undefined"), so the module stayed Python.


def _logged(next_proxy: Proxy, prefix: str, redactor: Redactor) -> Proxy:
    """Failure logs only (the HTTP executor below forwards the request id)."""

    async def observed(request: Request) -> Response:
        try:
            return await next_proxy(request)
        except Exception as exc:
            log_failure(exc, prefix, redactor, body=request.body)
            raise

    return observed


def _lean(next_proxy: Proxy, forward_id: bool, rid_header: str, prefix: str, redactor: Redactor) -> Proxy:
    """Failure logs and the request id forwarded (in a copy of the header map)."""

    async def observed(request: Request) -> Response:
        own = request.headers
        if forward_id:
            exchange: Exchange | None = request.context.get(EXCHANGE)
            if exchange is not None and exchange.request_id:
                request.headers = _with_id(own, rid_header, exchange.request_id)
        try:
            return await next_proxy(request)
        except Exception as exc:
            log_failure(exc, prefix, redactor, body=request.body)
            raise
        finally:
            if request.headers is not own:  # the id is the backend request's only
                _take_id_back(request, own, rid_header)

    return observed


def _metered(
    next_proxy: Proxy, adds: Adds, forward_id: bool, rid_header: str, prefix: str, redactor: Redactor
) -> Proxy:
    """:func:`_lean` and one duration row per call."""

    async def observed(request: Request) -> Response:
        own = request.headers
        if forward_id:
            exchange: Exchange | None = request.context.get(EXCHANGE)
            if exchange is not None and exchange.request_id:
                request.headers = _with_id(own, rid_header, exchange.request_id)
        start = _perf_ns()
        # the row of the outcome, ``error*4 + canceled*2 + complete`` (OTel's and /__stats' series
        # fed from it when read), appended where the outcome is known: no outcome flags kept in the
        # coroutine (compiled, each local is a field of its environment object)
        try:
            response = await next_proxy(request)
        except asyncio.CancelledError as exc:
            # a merge cut at the endpoint's deadline cancels its backends with DEADLINE: an error, not
            # canceled, as krakend-otel's stage meter (canceled only for context.Canceled)
            adds[4 if exc.args == (DEADLINE,) else 6].append(_perf_ns() - start)
            raise
        except Exception as exc:
            log_failure(exc, prefix, redactor, body=request.body)
            adds[4].append(_perf_ns() - start)
            raise
        except BaseException:
            adds[0].append(_perf_ns() - start)
            raise
        finally:
            if request.headers is not own:
                _take_id_back(request, own, rid_header)  # the id is the backend request's only
        adds[4 * bool(response.errors) + response.is_complete].append(_perf_ns() - start)
        return response

    return observed


class _General:
    """What the general backend layer (a backend span, a Lambda backend) reads per call, built once."""

    def __init__(
        self,
        hub: Telemetry,
        adds: Adds,
        template: CallTemplate,
        prefix: str,
        pattern: str,
        function_name: str,
        region: str,
        trace_on: bool,
        solo: bool,
        is_lambda: bool,
        forward_id: bool,
        rid_header: str,
    ) -> None:
        self.hub = hub
        self.tracer = hub.tracer
        #: the span buffer as built (an OpenCensus tee is set before the layers are)
        self.buffer = hub.tracer.buffer if hub.tracer is not None else None
        self.redactor = hub.redactor
        #: the duration rows by outcome (``()`` without metrics)
        self.adds = adds
        self.template = template
        self.prefix = prefix
        self.pattern = pattern
        self.function_name = function_name
        self.region = region
        self.trace_on = trace_on
        self.solo = solo
        self.is_lambda = is_lambda
        self.forward_id = forward_id
        self.rid_header = rid_header


def _general(next_proxy: Proxy, layer: _General) -> Proxy:
    """The layer with the backend span (the span written as a record) and/or a Lambda call's span,
    upstream timing and trace context, metrics when on."""
    has_metrics = bool(layer.adds)
    is_lambda = layer.is_lambda
    measured = has_metrics or is_lambda

    async def observed(request: Request) -> Response:
        exchange: Exchange | None = request.context.get(EXCHANGE)
        trace = exchange.trace if exchange is not None else None
        forward_id = layer.forward_id
        if not measured and (trace is None or not trace.sampled):  # unsampled: no span, no clock
            own = request.headers
            if forward_id and exchange is not None and exchange.request_id:
                request.headers = _with_id(own, layer.rid_header, exchange.request_id)
            try:
                return await next_proxy(request)
            except Exception as exc:
                log_failure(exc, layer.prefix, layer.redactor, body=request.body)
                raise
            finally:
                if request.headers is not own:  # the id is the backend request's only
                    _take_id_back(request, own, layer.rid_header)
        start = _perf_ns()
        start_ns = 0
        sid: bytes | None = None
        parent: bytes | None = None
        call: Span | None = None
        token = None
        if layer.trace_on and trace is not None and trace.sampled:
            assert exchange is not None
            n = exchange.made
            exchange.made = n + 1
            sid = exchange.spans + TAIL2[n & 0xFFF]
            parent = exchange.proxy_span or exchange.span or trace.parent_raw
            wall = exchange.wall
            start_ns = wall + start if wall else _now_ns()
            if layer.solo:
                exchange.backend_span = sid
            else:
                token = SPAN.set(sid)
        call_token = None
        own = request.headers
        rid = exchange.request_id if forward_id and exchange is not None else None
        if rid:
            request.headers = _with_id(own, layer.rid_header, rid)
        lent: list[str] | None = None  # the trace headers a Lambda call's request carries
        if is_lambda and exchange is not None:
            lent = []
            call = _lambda_start(
                layer.hub, request, own, lent, exchange, sid, layer.pattern, layer.function_name, layer.region
            )
            if call is not None:
                # the ClientContext hook names it as the parent (as bytes, as every span id there)
                call_token = SPAN.set(_unhex(call.span_id))
            exchange.upstream_started()
        error = canceled = complete = False
        status = 0
        code = None
        message = ""
        try:
            response = await next_proxy(request)
            complete = response.is_complete
            error = bool(response.errors)
            return response
        except asyncio.CancelledError as exc:
            # a merge cut at the endpoint's deadline cancels its backends with DEADLINE: an error, not
            # canceled, as krakend-otel's stage meter (canceled only for context.Canceled)
            error = True
            canceled = exc.args != (DEADLINE,)
            raise
        except Exception as exc:
            error = True
            log_failure(exc, layer.prefix, layer.redactor, body=request.body)
            if sid is not None:
                code = getattr(exc, "status", 500)
                status, message = 2, error_text(exc, layer.redactor, current_secrets(layer.redactor))[:512]
            raise
        finally:
            if request.headers is not own:  # the id and a Lambda call's trace context are its request's only
                if rid:
                    _take_id_back(request, own, layer.rid_header)
                if lent:
                    _take_trace_back(request.headers, own, lent)
            elapsed = _perf_ns() - start
            if is_lambda and exchange is not None:
                exchange.upstream_ended()
                if call_token is not None:
                    SPAN.reset(call_token)
                if call is not None:
                    tracer = layer.tracer
                    assert tracer is not None
                    if error:
                        call.error("lambda invocation failed")
                    tracer.end(call)
            if has_metrics:
                layer.adds[error * 4 + canceled * 2 + complete].append(elapsed)
            if sid is not None:
                assert trace is not None
                if token is not None:
                    SPAN.reset(token)
                buffer = layer.buffer
                assert buffer is not None
                buffer.add((
                    layer.template, trace.wire, sid, parent, start_ns, start_ns + elapsed, status, message,
                    complete, canceled, code,
                ))  # fmt: skip

    return observed


def _traced(next_proxy: Proxy, layer: _General) -> Proxy:
    """The general layer's usual traced call in a lean coroutine (:func:`_traced_call`): a sampled
    request's one backend called once (``solo``: its span id on the exchange, no context variable),
    not Lambda; an unsampled request (or none with no exchange) goes to :func:`_general`'s coroutine.
    The same record, rows, logs and headers as the general coroutine's
    (``tests/telemetry/test_backend_traced.py``)."""
    general = _general(next_proxy, layer)

    def observed(request: Request) -> Coroutine[Any, Any, Response]:
        exchange: Exchange | None = request.context.get(EXCHANGE)
        if exchange is not None:
            # typed: compiled, ``sampled`` is read from the native object (``Any``: a lookup by name)
            trace: TraceState | None = exchange.trace
            if trace is not None and trace.sampled:
                # a module-level coroutine: compiled, a native call (a nested one is a closure called
                # through a generic vectorcall, its arguments parsed by a wrapper)
                return _traced_call(next_proxy, layer, request, exchange, trace)
        return general(request)

    return observed


async def _traced_call(
    next_proxy: Proxy, layer: _General, request: Request, exchange: Exchange, trace: TraceState
) -> Response:
    """:func:`_traced`'s call of a sampled request: fewer locals kept across the await than the general
    coroutine's (compiled, each is a field of the coroutine's environment), no Lambda or
    context-variable steps."""
    start = _perf_ns()
    n = exchange.made
    exchange.made = n + 1
    sid = exchange.spans + TAIL2[n & 0xFFF]
    parent = exchange.proxy_span or exchange.span or trace.parent_raw
    wall = exchange.wall
    start_ns = wall + start if wall else _now_ns()
    exchange.backend_span = sid
    own = request.headers
    rid = exchange.request_id if layer.forward_id else None
    if rid:
        request.headers = _with_id(own, layer.rid_header, rid)
    try:
        response = await next_proxy(request)
    except asyncio.CancelledError as exc:
        # the endpoint's deadline: an error, not canceled (as the general coroutine)
        _traced_end(layer, request, own, rid, trace, sid, parent, start, start_ns, 0, "", False,
                    exc.args != (DEADLINE,), None, True)  # fmt: skip
        raise
    except Exception as exc:
        log_failure(exc, layer.prefix, layer.redactor, body=request.body)
        _traced_end(layer, request, own, rid, trace, sid, parent, start, start_ns, 2,
                    error_text(exc, layer.redactor, current_secrets(layer.redactor))[:512], False, False,
                    getattr(exc, "status", 500), True)  # fmt: skip
        raise
    except BaseException:
        _traced_end(layer, request, own, rid, trace, sid, parent, start, start_ns, 0, "", False, False, None, False)
        raise
    _traced_end(layer, request, own, rid, trace, sid, parent, start, start_ns, 0, "", response.is_complete,
                False, None, bool(response.errors))  # fmt: skip
    return response


def _traced_end(
    layer: _General,
    request: Request,
    own: Headers,
    rid: str | None,
    trace: TraceState,
    sid: bytes,
    parent: bytes | None,
    start: int,
    start_ns: int,
    status: int,
    message: str,
    complete: bool,
    canceled: bool,
    code: Any,
    error: bool,
) -> None:
    """The end of :func:`_traced`'s call, in the general coroutine's ``finally``'s order: the id taken
    back, the row, the backend span's record."""
    if rid and request.headers is not own:  # the id is the backend request's only
        _take_id_back(request, own, layer.rid_header)
    elapsed = _perf_ns() - start
    if layer.adds:
        layer.adds[error * 4 + canceled * 2 + complete].append(elapsed)
    buffer = layer.buffer
    assert buffer is not None
    buffer.add((
        layer.template, trace.wire, sid, parent, start_ns, start_ns + elapsed, status, message,
        complete, canceled, code,
    ))  # fmt: skip


def _take_trace_back(headers: Headers, own: Headers, names: list[str]) -> None:
    """After a Lambda call: each trace header (lower-case ``names``) out of ``headers`` in any spelling,
    and the request's own values of it (a client's forwarded ``Traceparent``) back in."""
    for key in [k for k in headers if k.lower() in names]:
        del headers[key]
    for key, values in own.items():
        if key.lower() in names:
            headers[key] = values


def _lambda_start(
    hub: Telemetry,
    request: Request,
    own: Headers,
    lent: list[str],
    exchange: Exchange,
    parent: bytes | None,
    pattern: str,
    function_name: str,
    region: str,
) -> Span | None:
    """Open the Lambda CLIENT span (sampled) and put the trace context where the function sees it."""
    tracer = hub.tracer
    trace = exchange.trace
    if tracer is None or trace is None:  # disable_propagation: the caller's context only (Tracer.propagation)
        return None
    call: Span | None = None
    if trace.sampled and tracer.backend_layer.enabled and tracer.backend_layer.round_trip:
        attrs: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.service": "Lambda",
            "rpc.method": "Invoke",
            "krakend.stage": "backend-request",
        }
        if function_name:
            attrs["faas.invoked_name"] = function_name
        if region:
            attrs["faas.invoked_region"] = region
        # the Lambda span an object (a cold path): its parent's id as text
        call = tracer.span(trace, parent.hex() if parent else trace.parent_id, pattern, CLIENT, attrs)
    hop = call.span_id if call is not None else None
    if hop is None and trace.sampled:  # no Lambda span recorded: the innermost exported span
        up = parent or exported_parent(exchange)
        hop = up.hex() if up else None
    pairs = tracer.headers(trace, hop)
    if pairs:
        # API-Gateway events carry request.headers: the trace context goes there, in the call's own copy
        # of the map (as the forwarded id does: :func:`_with_id`), never in the caller's, one entry per
        # name (a client's forwarded ``Traceparent`` replaced for the call); taken back out after it
        headers = request.headers
        if headers is own:
            headers = request.headers = own.copy()
        # every header the propagators write, not only those written now: a client's forwarded
        # tracestate the gateway dropped (not valid W3C) goes too, as from HTTP backends' requests
        lent.extend(propagator_fields(tracer.propagators).union(name.lower() for name, _ in pairs))
        for key in [k for k in headers if k.lower() in lent]:
            del headers[key]
        for name, value in pairs:
            headers[name] = [value]
    return call
