"""Client-layer telemetry (one per HTTP backend, around the upstream call), built when tracing or
client metrics are on: the CLIENT span, ``traceparent`` injected into every upstream request,
round-trip metrics, and the upstream busy time behind the access log's ``upstream_ms``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.backends.conntiming import TIMING, CallTiming
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import BackendError
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.ids import HEX3
from krakenpy.telemetry.layers.client_timing import timing_recorder, wall_ns
from krakenpy.telemetry.metrics.instruments import gin_route, lura_pattern
from krakenpy.telemetry.metrics.registry import Counter, Histogram
from krakenpy.telemetry.trace.context import hop_span_id
from krakenpy.telemetry.trace.spans import SPAN, shape_for
from krakenpy.telemetry.trace.templates import ClientTemplate

__all__ = ["client_middleware", "split_netloc"]

_perf = time.perf_counter
_now_ns = time.time_ns
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


class _HostSeries:
    __slots__ = ("by_status", "canceled", "connection", "failed", "labels", "request_size", "started", "timedout")

    def __init__(self, started: Counter, failed: Counter, canceled: Counter, timedout: Counter, size: Counter,
                 labels: tuple[str, ...]) -> None:  # fmt: skip
        self.started = started
        self.failed = failed
        self.canceled = canceled
        self.timedout = timedout
        self.request_size = size
        self.labels = labels
        #: per status: the duration and response-size histograms' ``add``
        self.by_status: dict[int, tuple[Callable[[float], None], Callable[[float], None]]] = {}
        self.connection: dict[int, tuple[Histogram, ...]] = {}


def client_middleware(hub: Telemetry, endpoint: EndpointConfig, backend: BackendConfig) -> ClientMiddleware | None:
    """The client layer of the telemetry for one HTTP backend; ``None`` when it has nothing to do."""
    tracer = hub.tracer
    layer = tracer.backend_layer if tracer is not None else None
    metrics = hub.client_metrics
    inject = tracer is not None and tracer.propagation
    redactor = hub.redactor
    route = redactor.text(gin_route(backend.url_pattern))
    ep_route = gin_route(endpoint.endpoint)
    # detailed_connection / read_payload: None unless asked for (then every call carries a CallTiming)
    record_timing = timing_recorder(hub, endpoint, backend, route, ep_route)
    if not inject and metrics is None and not hub.upstream_time and record_timing is None:
        return None  # the request id is added by the backend layer
    trace_calls = tracer is not None and layer is not None and layer.enabled and layer.round_trip
    # label values and span names: the pattern with its secret query values masked (as in the logs)
    pattern = redactor.text(lura_pattern(backend.url_pattern))
    hosts: dict[str, _HostSeries] = {}
    static = layer.static if layer is not None else ()
    # the stage and the layer's static attributes as one shape encoded once; without it (a static key
    # named like a per-request one) every attribute stays on the span as before
    shape = shape_for({"krakend.stage": "backend-request", **dict(static)}, _PER_REQUEST)
    # the CLIENT span's record: (template, trace, id, parent, start, end, status, message, URL, host,
    # port, method, request size, status code, response size, connection times or None, first byte)
    template = ClientTemplate(pattern, shape, {"krakend.stage": "backend-request", **dict(static)})
    trace_conn = trace_calls and layer is not None and layer.detailed_connection and record_timing is not None
    # the backend layer's rule: one backend called once finds its span on the exchange
    solo = len(endpoint.backends) == 1 and endpoint.concurrent_calls <= 1 and backend.concurrent_calls <= 1
    # the upstream busy time is read by the JSON access log only
    track = hub.upstream_time
    add_span = tracer.buffer.add if tracer is not None else None

    # the last host's "scheme://host:port/" and series: a backend usually has one host
    last: list[Any] = ["\0", None]

    def series(url: str) -> _HostSeries:
        assert metrics is not None
        if url.startswith(last[0]):
            return last[1]  # type: ignore[no-any-return]
        key = url[: url.find("/", url.find("//") + 2)]  # scheme://host:port, cheaper than parsing
        found = hosts.get(key)
        if found is None:
            host, port = split_netloc(url)
            labels = metrics.labels(
                method=backend.method, pattern=route, endpoint=ep_route, endpoint_method=endpoint.method,
                host=host, port=port,
            )  # fmt: skip
            found = hosts[key] = _HostSeries(
                metrics.started.counter(*labels), metrics.failed.counter(*labels),
                metrics.canceled.counter(*labels), metrics.timedout.counter(*labels),
                metrics.request_size.counter(*labels), labels,
            )  # fmt: skip
        if url[len(key) : len(key) + 1] == "/":
            last[0], last[1] = key + "/", found
        return found

    # the last host's "scheme://host:port/" and its (address, port) attributes (split_netloc ~6k)
    last_peer: list[Any] = ["\0", ("", 0)]

    def peer(url: str) -> tuple[str, int]:
        """The call's (server.address, server.port), the last host's kept."""
        if url.startswith(last_peer[0]):
            return last_peer[1]  # type: ignore[no-any-return]
        address, text = split_netloc(url)
        found = address, int(text) if text.isdigit() else 0
        end = url.find("/", url.find("//") + 2)
        if end > 0:
            last_peer[0], last_peer[1] = url[: end + 1], found
        return found

    def middleware(call: UpstreamCall) -> UpstreamCall:
        inject_headers = tracer.injector() if tracer is not None and inject else None
        # nothing to time for an unrecorded call without metrics: the upstream's own awaitable is
        # handed back (no coroutine frame of this layer; it costs ~2k machine instructions)
        # (read metrics need every call; a read span without a CLIENT span needs the sampled ones)
        passthrough = metrics is None and not track and hub.read_metrics is None
        if record_timing is not None and not trace_calls and layer is not None and layer.read_payload:
            passthrough = False

        def observed(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> Awaitable[UpstreamResponse]:
            exchange = CURRENT.get()
            sid = None
            if exchange is not None:
                trace = exchange.trace
                if trace is not None and tracer is not None:
                    if trace_calls and trace.sampled:
                        n = exchange.made
                        exchange.made = n + 1
                        sid = exchange.spans + HEX3[n & 0xFFF]
                    if inject_headers is not None:
                        headers.extend(inject_headers(trace, sid or hop_span_id()))
            if sid is None and passthrough:
                return call(method, url, headers, body)
            return measured(method, url, headers, body, exchange, sid)

        async def measured(
            method: str,
            url: str,
            headers: list[tuple[str, str]],
            body: bytes | None,
            exchange: Exchange | None,
            sid: str | None,
        ) -> UpstreamResponse:
            host_series = series(url) if metrics is not None else None
            if host_series is not None:
                host_series.started.value += 1  # Counter.inc inline
                if body:
                    host_series.request_size.value += len(body)
            # one clock reading for the busy time and the round trip
            busy = exchange if track else None
            timing = timing_token = None
            failure: BaseException | None = None
            if record_timing is not None:
                timing = CallTiming()
                timing_token = TIMING.set(timing)
            start_ns = _now_ns() if sid is not None else 0
            start = busy.upstream_started() if busy is not None else _perf()
            status = span_status = 0
            message = ""
            try:
                response = await call(method, url, headers, body)
                status = response.status
                return response
            except asyncio.CancelledError as exc:
                failure = exc
                if host_series is not None:
                    host_series.canceled.inc()
                raise
            except BaseException as exc:
                failure = exc
                if host_series is not None:
                    timed_out = isinstance(exc, BackendError) and "timeout" in str(exc)
                    (host_series.timedout if timed_out else host_series.failed).inc()
                if sid is not None:
                    span_status, message = 2, redactor.text(str(exc))[:512]
                raise
            finally:
                elapsed = (busy.upstream_ended() if busy is not None else _perf()) - start
                size = len(response.body) if status else 0
                if host_series is not None and metrics is not None:
                    pair = host_series.by_status.get(status)
                    if pair is None:
                        labels = (*host_series.labels, str(status))
                        pair = host_series.by_status[status] = (
                            metrics.duration.histogram(*labels).add, metrics.response_size.histogram(*labels).add,
                        )  # fmt: skip
                    # the values queued (Histogram.add, a list's append; bucketed when read): the
                    # inline bisect and three updates per histogram cost ~12 opcodes each (2026-12-01)
                    pair[0](elapsed)
                    pair[1](size)
                if timing is not None and timing_token is not None and record_timing is not None:
                    TIMING.reset(timing_token)
                    record_timing(timing, status, size, failure, host_series, sid, exchange)
                if sid is not None:
                    assert exchange is not None
                    trace = exchange.trace
                    parent = (exchange.backend_span if solo else SPAN.get()) or exchange.proxy_span
                    conn = first_byte = None
                    if trace_conn and failure is None and timing is not None:
                        conn = timing.get_conn, timing.dns, timing.tls
                        if timing.first_byte:
                            first_byte = wall_ns(timing.first_byte)
                    host, port = peer(url)
                    add_span((  # type: ignore[misc]
                        template, trace.trace_id, sid, parent or exchange.span or trace.parent_id, start_ns,
                        start_ns + int(elapsed * 1e9), span_status, message, redactor.url(url), host, port, method,
                        len(body or b""), status, size, conn, first_byte,
                    ))  # fmt: skip

        return observed

    return middleware
