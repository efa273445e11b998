"""Client-layer telemetry (one per HTTP backend, around the upstream call), built when tracing or
client metrics are on: the CLIENT span, ``traceparent`` injected into every upstream request,
round-trip metrics, and the upstream busy time behind the access log's ``upstream_ms``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.backends.conntiming import TIMING, CallTiming
from krakenpy.backends.fastclient import timed_form
from krakenpy.backends.fastwire import KNOWN
from krakenpy.backends.http import SplitCall
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import BackendError
from krakenpy.proxy.deadline import DEADLINE
from krakenpy.telemetry.exchange import CURRENT, Exchange, current_secrets
from krakenpy.telemetry.failures import error_text
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.client_timing import ReadRecorder, timing_recorder, wall_ns
from krakenpy.telemetry.layers.record import exported_parent
from krakenpy.telemetry.metrics.client_slot import CANCELED, FAILED, TIMEDOUT, ClientSlot
from krakenpy.telemetry.metrics.instruments import gin_route, lura_pattern
from krakenpy.telemetry.trace.context import TraceState, hop_span_id, propagator_fields
from krakenpy.telemetry.trace.spans import SPAN, TAIL2, shape_for
from krakenpy.telemetry.trace.templates import KEPT_ALIVE, ClientTemplate

__all__ = ["client_middleware", "split_netloc"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf: Final = time.perf_counter
_now_ns: Final = time.time_ns
#: the context variables' methods bound once: compiled, ``TIMING.set(t)`` is a call by name
#: (``PyObject_VectorcallMethod``, its lookup ~0.2 k instructions on top of the HAMT's work: the
#: set and reset took 3.85 k a call together, 2026-12-02, branch ``metrics2``), a bound method a C
#: static called directly
_set_timing: Final = TIMING.set
_reset_timing: Final = TIMING.reset
_get_timing: Final = TIMING.get
_current: Final = CURRENT.get
#: the template's kept-alive tuple as a C static (an imported name is a module dict lookup per read)
_KEPT_ALIVE: Final[tuple[Any, ...]] = KEPT_ALIVE
#: ``bytes.hex`` as a C static: ``sid.hex()`` is a call by name (the method looked up per call)
_hex: Final = bytes.hex
#: the head writer's known value (:class:`~krakenpy.backends.fastwire.Known`)
_KNOWN: Final = KNOWN
#: what the client layer (and its timing recorder) writes on a CLIENT span per request
_PER_REQUEST = frozenset({
    "url.full", "server.address", "server.port", "http.request.method", "http.request.body.size",
    "http.response.status_code", "http.response.body.size", "get-conn-duration", "dns-duration", "tls-duration",
})  # fmt: skip


def split_netloc(url: str) -> tuple[str, str]:
    """(host, port) of an absolute URL, the port defaulted from the scheme."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        host, _, port = netloc[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = netloc.partition(":")
    return host, port or ("443" if scheme == "https" else "80")


def client_middleware(hub: Telemetry, endpoint: EndpointConfig, backend: BackendConfig) -> ClientMiddleware | None:
    """The client layer of the telemetry for one HTTP backend; ``None`` when it has nothing to do."""
    tracer = hub.tracer
    # injected whatever layers.global.disable_propagation says: it only stops reading the caller's
    # context (krakend-otel's global layer), the backends still get the gateway's
    inject = tracer is not None
    redactor = hub.redactor
    route = redactor.text(gin_route(backend.url_pattern))
    ep_route = gin_route(endpoint.endpoint)
    # detailed_connection / read_payload: None unless asked for (then every call carries a CallTiming)
    record_timing = timing_recorder(hub, endpoint, backend, route, ep_route)
    if not inject and hub.client_metrics is None and not hub.upstream_time and record_timing is None:
        return None  # the request id is added by the backend layer
    layer = _ClientLayer(hub, endpoint, backend, route, ep_route, record_timing)

    def middleware(call: UpstreamCall) -> UpstreamCall:
        return _Observed(call, layer)

    return middleware


class _ClientLayer:
    """What the client layer of one HTTP backend reads per call, decided once; :meth:`measured` is
    the timed call. (The per-call code is a method and a module-level factory, no coroutine nested two
    functions deep: mypy 2.4's mypyc miscompiled that shape, and the module stayed Python.)"""

    def __init__(
        self,
        hub: Telemetry,
        endpoint: EndpointConfig,
        backend: BackendConfig,
        route: str,
        ep_route: str,
        record_timing: ReadRecorder | None,
    ) -> None:
        tracer = hub.tracer
        layer = tracer.backend_layer if tracer is not None else None
        metrics = hub.client_metrics
        self.hub = hub
        self.tracer = tracer
        self.metrics = metrics
        # OTEL_PROPAGATORS=none: no header to write
        self.inject = tracer is not None and bool(tracer.propagators)
        self.redactor = hub.redactor
        self.record_timing = record_timing
        self.method = backend.method
        self.route = route
        self.ep_route = ep_route
        self.ep_method = endpoint.method
        self.trace_calls = (
            tracer is not None and layer is not None and layer.enabled and layer.round_trip
            and ep_route not in tracer.skip_paths
        )  # fmt: skip
        # a read_payload recorder without the CLIENT span still needs every call timed
        self.read_untraced = (
            record_timing is not None and not self.trace_calls and layer is not None and layer.read_payload
        )
        # label values and span names: the pattern with its secret query values masked (as in the logs)
        pattern = self.redactor.text(lura_pattern(backend.url_pattern))
        self.hosts: dict[str, ClientSlot] = {}
        self.slots = hub.metric_slots() if metrics is not None else None
        # the connection histograms are fed from the round trip's row (the call's timing in it)
        self.timed_rows = metrics is not None and metrics.connection is not None
        static = layer.static if layer is not None else ()
        # the stage and the layer's static attributes as one shape encoded once; without it (a static key
        # named like a per-request one) every attribute stays on the span as before
        shape = shape_for({"krakend.stage": "backend-request", **dict(static)}, _PER_REQUEST)
        # the CLIENT span's record: (template, trace, id, parent, start, end, status, message, URL, host,
        # port, method, request size, status code, response size, connection times or None, first byte)
        self.template = ClientTemplate(pattern, shape, {"krakend.stage": "backend-request", **dict(static)})
        self.trace_conn = (
            self.trace_calls and layer is not None and layer.detailed_connection and record_timing is not None
        )
        # the backend layer's rule: one backend called once finds its span on the exchange
        self.solo = len(endpoint.backends) == 1 and endpoint.concurrent_calls <= 1 and backend.concurrent_calls <= 1
        # the upstream busy time is read by the JSON access log only
        self.track = hub.upstream_time
        #: the span buffer as built (an OpenCensus tee is set before the layers are)
        self.buffer = tracer.buffer if tracer is not None else None
        # the last host's "scheme://host:port/" and series: a backend usually has one host
        self._last_key = "\0"
        self._last_slot: ClientSlot | None = None
        # the last host's "scheme://host:port/" and its (address, port) attributes (split_netloc ~6k)
        self._last_peer_key = "\0"
        # the port as ``Any``: compiled, an ``int`` in a fixed-length tuple is unboxed, and each CLIENT
        # span's record boxed it anew (a port above 256 is no cached small int: a ``PyLong`` a call)
        self._last_peer: tuple[str, Any] = ("", 0)
        # the last URL and its redacted text: a backend's calls repeat their URL, and the redactor's
        # ``url`` is a Python method call (~0.9 k machine instructions a CLIENT span, callgrind, round
        # 12, ``trace6``) of a pure function of the text
        self._last_url = "\0"
        self._last_shown = ""
        # the endpoint has a sensitive path parameter (``/reset/{token}``): its value, in the URL a
        # backend is called with, masked as the request's other credentials are (no URL cache)
        paths = self.redactor.paths
        self.path_secrets = paths is not None and endpoint.endpoint in paths.by_route
        # the headers the injector writes, when the endpoint can forward a client's own (input_headers):
        # krakend-otel sets them on the backend request, so a client's is replaced, never sent beside
        # the gateway's (None, the usual case: nothing to look for)
        fields = propagator_fields(tracer.propagators) if tracer is not None else frozenset()
        forwarded = {h.lower() for h in (*endpoint.input_headers, *(backend.input_headers or ()))}
        self.scrub = fields if fields and ("*" in forwarded or not fields.isdisjoint(forwarded)) else None

    def series(self, url: str) -> ClientSlot:
        """The round-trip slot of the call's host (the last host's kept)."""
        last = self._last_slot
        if last is not None and url.startswith(self._last_key):
            return last
        metrics = self.metrics
        slots = self.slots
        assert metrics is not None and slots is not None
        key = url[: url.find("/", url.find("//") + 2)]  # scheme://host:port, cheaper than parsing
        found = self.hosts.get(key)
        if found is None:
            host, port = split_netloc(url)
            labels = metrics.labels(
                method=self.method, pattern=self.route, endpoint=self.ep_route, endpoint_method=self.ep_method,
                host=host, port=port,
            )  # fmt: skip
            found = self.hosts[key] = ClientSlot(metrics, labels)
            slots.register(found.drain, found.size)
        if url[len(key) : len(key) + 1] == "/":
            self._last_key, self._last_slot = key + "/", found
        return found

    def peer(self, url: str) -> tuple[str, Any]:
        """The call's (server.address, server.port), the last host's kept."""
        if url.startswith(self._last_peer_key):
            return self._last_peer
        address, text = split_netloc(url)
        port: Any = int(text) if text.isdigit() else 0
        found = address, port
        end = url.find("/", url.find("//") + 2)
        if end > 0:
            self._last_peer_key, self._last_peer = url[: end + 1], found
        return found

    def shown(self, url: str, exchange: Exchange) -> str:
        """The CLIENT span's ``url.full``: the URL redacted (the last URL's kept)."""
        if self.path_secrets:
            return self.redactor.text(url, exchange.secrets(self.redactor))
        if url == self._last_url:
            return self._last_shown
        shown = self.redactor.url(url)
        self._last_url, self._last_shown = url, shown
        return shown

    def begin(self, method: str, url: str, body: bytes | None, exchange: Exchange | None, sid: bytes | None) -> _Visit:
        """One upstream call's start (right before it): its host's slot, its timing handed down, the
        clock read; what :meth:`ended` needs after the call."""
        # the host's slot found (made, with its counters, at its first call) before the call, as a
        # scrape during that first call has always seen them
        visit = _Visit()
        visit.url, visit.method, visit.body, visit.exchange, visit.sid = url, method, body, exchange, sid
        if self.metrics is not None:
            visit.host = self.series(url)
        # the timing handed down on the exchange (a solo call: nothing else of the request runs
        # beside it) instead of by context variable: an attribute set and restored where
        # ``TIMING.set`` + ``reset`` cost ~3.4 k instructions a call (HAMT copies, a token: the
        # callgrind split of ``p1-metrics`` at 56cdf6e4; the layer's frame -2.8 k with the clients'
        # reads, 2026-12-02, branch ``timing2``); the exchange's previous value put back after (a
        # timed call nested in another on the same exchange). Not while ``TIMING`` is set: the
        # clients read it first (a call nested in one that had to use it). ``token`` None: on the exchange
        if self.record_timing is not None:
            timing: CallTiming = visit  # the visit is the call's timing too: one object a call
            if self.solo and exchange is not None and _get_timing() is None:
                visit.outer = exchange.call_timing
                exchange.call_timing = timing
            else:
                visit.token = _set_timing(timing)
        # one clock reading for the busy time and the round trip
        start = visit.start = exchange.upstream_started() if self.track and exchange is not None else _perf()
        if sid is not None:
            wall = exchange.wall if exchange is not None else 0
            visit.start_ns = wall + int(start * 1e9) if wall else _now_ns()
        return visit

    async def measured(
        self,
        call: UpstreamCall,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        exchange: Exchange | None,
        sid: bytes | None,
    ) -> UpstreamResponse:
        """One upstream call timed, where the layer is called as a function (inside another client
        layer; the executor runs :meth:`begin` and :meth:`ended` as steps of its own coroutine
        otherwise, :class:`~krakenpy.backends.http.SplitCall`): its metrics row, the busy time, the
        timing recorder, the CLIENT span. :meth:`begin` runs here, in the coroutine: in the context
        it is awaited in (a context variable set there is reset there)."""
        visit = self.begin(method, url, body, exchange, sid)
        try:
            response = await call(method, url, headers, body)
        except BaseException as exc:
            self.ended(visit, 0, 0, exc)
            raise
        self.ended(visit, response.status, len(response.body), None)
        return response

    def ended(self, visit: _Visit, status: int, size: int, failure: BaseException | None) -> None:
        """The end of a call :meth:`begin` started (answered with ``status`` and a body of ``size``
        bytes, or ``failure``: 0 and 0): its row, the timing put back and recorded, the CLIENT span.
        The answer's fields come read: ``UpstreamResponse`` is interpreted, and each read by name here
        cost ~0.18 k machine instructions compiled (the split executor reads them for itself anyway)."""
        exchange = visit.exchange
        sid = visit.sid
        timing: CallTiming | None = visit if self.record_timing is not None else None
        body = visit.body
        failed = 0
        span_status = 0
        message = ""
        if failure is not None:
            if isinstance(failure, asyncio.CancelledError):
                # the endpoint's deadline (its cancellation says so), or the client went away: an
                # error either way, as krakend-otel's span of a round trip whose context ended
                deadline = failure.args == (DEADLINE,)
                failed = TIMEDOUT if deadline else CANCELED
                if sid is not None:
                    span_status, message = 2, DEADLINE if deadline else "context canceled"
            else:
                failed = TIMEDOUT if isinstance(failure, BackendError) and "timeout" in str(failure) else FAILED
                if sid is not None:
                    span_status, message = 2, error_text(failure, self.redactor, current_secrets(self.redactor))[:512]
        # the upstream client's end of the body read when it timed the call (set as it handed the
        # answer back): one clock reading for both
        if self.track and exchange is not None:
            end = exchange.upstream_ended()
        elif timing is not None and timing.read_end and failure is None:
            end = timing.read_end
        else:
            end = _perf()
        elapsed = end - visit.start
        if not status:
            size = 0
        host = visit.host
        if host is not None:
            # numbers appended to the host's columns; its counters and histograms are fed from
            # them when read (ClientSlot). The connection times copied, not the CallTiming:
            # nothing queued keeps the call's objects alive until the fold
            if timing is not None and self.timed_rows:
                host.record(status, elapsed, size, len(body) if body else 0, failed,
                            timing.get_conn, timing.dns, timing.tls)  # fmt: skip
            else:
                host.record(status, elapsed, size, len(body) if body else 0, failed, 0.0, 0.0, 0.0)
        # (a native class: compiled, ``record`` is a native method call)
        record_timing = self.record_timing
        if timing is not None and record_timing is not None:
            token = visit.token
            if token is not None:
                _reset_timing(token)
            elif exchange is not None:
                exchange.call_timing = visit.outer
            record_timing.record(timing, size, failure, sid, exchange)
        if sid is not None:
            assert exchange is not None
            self._span(
                exchange, sid, visit.start_ns, elapsed, span_status, message, visit.url, visit.method, body, status,
                size, failure, timing,
            )  # fmt: skip

    def _span(
        self,
        exchange: Exchange,
        sid: bytes,
        start_ns: int,
        elapsed: float,
        span_status: int,
        message: str,
        url: str,
        method: str,
        body: bytes | None,
        status: int,
        size: int,
        failure: BaseException | None,
        timing: CallTiming | None,
    ) -> None:
        """The CLIENT span's record."""
        trace: TraceState = exchange.trace  # typed: its fields read from the native object
        parent = (exchange.backend_span if self.solo else SPAN.get()) or exchange.proxy_span
        # tuple[Any, ...]: a fixed-length tuple type would be unboxed compiled, and KEPT_ALIVE boxed anew
        conn: tuple[Any, ...] | None = None
        first_byte = None
        if self.trace_conn and failure is None and timing is not None:
            get_conn, dns, tls = timing.get_conn, timing.dns, timing.tls
            # a kept-alive connection's (the usual call) as the template's own tuple: no tuple and
            # floats made, and the template tells it by identity (round 12, ``trace6``)
            conn = _KEPT_ALIVE if get_conn == 0.0 and dns == 0.0 and tls == 0.0 else (get_conn, dns, tls)
            if timing.first_byte:
                wall = exchange.wall
                first_byte = wall + int(timing.first_byte * 1e9) if wall else wall_ns(timing.first_byte)
        address, port = self.peer(url)
        buffer = self.buffer
        assert buffer is not None
        buffer.add((
            self.template, trace.wire, sid, parent or exchange.span or trace.parent_raw, start_ns,
            start_ns + int(elapsed * 1e9), span_status, message, self.shown(url, exchange), address, port,
            method, len(body or b""), status, size, conn, first_byte,
        ))  # fmt: skip


class _Visit(CallTiming):
    """One upstream call between :meth:`_ClientLayer.begin` and :meth:`_ClientLayer.ended`: what
    crosses the call (the defaults on the class, ``begin`` sets what it has), and the call's
    :class:`CallTiming` when the layer times it (one object a call where there were two, ~0.4 k
    machine instructions; nothing keeps a timing past its call)."""

    url: str = ""
    method: str = ""
    body: bytes | None = None
    exchange: Exchange | None = None
    sid: bytes | None = None
    host: ClientSlot | None = None
    start: float = 0.0
    start_ns: int = 0
    #: the ``TIMING`` token when the timing was set by context variable (None: on the exchange)
    token: Any = None
    #: the exchange's previous ``call_timing`` (put back after the call)
    outer: CallTiming | None = None


class _Observed(SplitCall):
    """``call`` behind the layer: the trace context injected, the call measured when it must be (as
    the outermost client layer, by the executor's steps: :class:`~krakenpy.backends.http.SplitCall`)."""

    def __init__(self, call: UpstreamCall, layer: _ClientLayer) -> None:
        super().__init__(call)
        self.layer = layer
        tracer = layer.tracer
        self.tracer = tracer
        self.inject_headers = tracer.injector() if tracer is not None and layer.inject else None
        # the injector's first header is the traceparent (both of its forms write the propagators in order)
        self.mark = tracer is not None and tracer.propagators[:1] == ("tracecontext",)
        # a sampled call's headers written here for the usual propagators (compile_inject's own form:
        # W3C, and baggage when named): no call of the injector and no list of its own (~0.4 k a call)
        names = tuple(tracer.propagators) if tracer is not None else ()
        self.w3c = self.inject_headers is not None and names in (("tracecontext", "baggage"), ("tracecontext",))
        self.baggage_on = len(names) == 2
        self.scrub = layer.scrub
        self.trace_calls = layer.trace_calls
        # sampled calls without a CLIENT span (decided here): their traceparent names the innermost
        # exported span; an unsampled call's parent is a hop id (nothing of it is exported)
        self.parent_hop = self.inject_headers is not None and not layer.trace_calls
        # nothing to time for an unrecorded call without metrics: the upstream's own awaitable is
        # handed back (no coroutine frame of this layer; it costs ~2k machine instructions)
        # (read metrics need every call; a read span without a CLIENT span needs the sampled ones)
        passthrough = layer.metrics is None and not layer.track and layer.hub.read_metrics is None
        self.passthrough = passthrough and not layer.read_untraced
        # the visit (the call's timing) handed to a fast client's request by the executor itself
        self.timed = timed_form(call) if layer.record_timing is not None else None

    def traced(self, exchange: Exchange | None, headers: list[tuple[str, str]]) -> bytes | None:
        """The call's trace context injected into ``headers``; the CLIENT span's id when it is recorded."""
        sid = None
        if exchange is not None:
            # typed: compiled, its fields are read from the native object (``wire`` below)
            trace: TraceState | None = exchange.trace
            tracer = self.tracer
            if trace is not None and tracer is not None:
                scrub = self.scrub
                if scrub is not None:  # a client's trace headers forwarded: replaced by the gateway's
                    headers[:] = [pair for pair in headers if pair[0].lower() not in scrub]
                if self.trace_calls and trace.sampled:
                    n = exchange.made
                    exchange.made = n + 1
                    sid = exchange.spans + TAIL2[n & 0xFFF]
                inject_headers = self.inject_headers
                if sid is not None and self.w3c:
                    # compile_inject's usual form, written into the call's headers (a sampled call:
                    # flags 01); the span id's text made here, once: the only place a sampled request
                    # needs it. Its traceparent is hex digits and dashes when the trace id was decoded
                    # as hex into ``wire``: the head writer need not scan it (fastwire's KNOWN)
                    value = f"00-{trace.trace_id}-{_hex(sid)}-01"
                    headers.append(("traceparent", value))
                    if trace.wire:
                        _KNOWN.value = value
                    if trace.tracestate:
                        headers.append(("tracestate", trace.tracestate))
                    if self.baggage_on and trace.baggage:
                        headers.append(("baggage", trace.baggage))
                elif inject_headers is not None and sid is not None:
                    # the span id's text made here, once: the only place a sampled request needs it
                    pairs = inject_headers(trace, _hex(sid))
                    if self.mark and trace.wire:
                        # its traceparent is hex digits and dashes (the trace id was decoded as hex
                        # into ``wire``): the head writer need not scan it (fastwire's KNOWN)
                        _KNOWN.value = pairs[0][1]
                    headers.extend(pairs)
                elif inject_headers is not None:
                    if self.parent_hop and trace.sampled:
                        # no CLIENT span recorded for a sampled call: the backend's parent is the
                        # innermost span exported (a random hop id would orphan the backend's spans)
                        # (a solo backend's span read from the exchange first: no context variable read)
                        parent = (exchange.backend_span if self.layer.solo else None) or exported_parent(exchange)
                        headers.extend(inject_headers(trace, _hex(parent) if parent else hop_span_id()))
                    else:
                        headers.extend(inject_headers(trace, hop_span_id()))
        return sid

    def __call__(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Awaitable[UpstreamResponse]:
        exchange = _current()
        sid = self.traced(exchange, headers)
        if sid is None and self.passthrough:
            return self.call(method, url, headers, body)
        return self.layer.measured(self.call, method, url, headers, body, exchange, sid)

    def prepare(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
        exchange = _current()
        sid = self.traced(exchange, headers)
        if sid is None and self.passthrough:
            return None
        return self.layer.begin(method, url, body, exchange, sid)

    def finish(self, visit: Any, status: int, size: int, failure: BaseException | None) -> None:
        self.layer.ended(visit, status, size, failure)
