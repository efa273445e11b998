"""Client-layer telemetry (one per HTTP backend, around the upstream call), built when tracing or
client metrics are on: the CLIENT span, ``traceparent`` injected into every upstream request,
round-trip metrics, and the upstream busy time behind the access log's ``upstream_ms``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.backends.conntiming import TIMING, CallTiming
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import BackendError
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.ids import HEX3
from krakenpy.telemetry.layers.client_timing import timing_recorder, wall_ns
from krakenpy.telemetry.metrics.client_slot import CANCELED, FAILED, TIMEDOUT, ClientSlot
from krakenpy.telemetry.metrics.instruments import gin_route, lura_pattern
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
    trace_calls = (
        tracer is not None and layer is not None and layer.enabled and layer.round_trip
        and ep_route not in tracer.skip_paths
    )  # fmt: skip
    # label values and span names: the pattern with its secret query values masked (as in the logs)
    pattern = redactor.text(lura_pattern(backend.url_pattern))
    hosts: dict[str, ClientSlot] = {}
    slots = hub.metric_slots() if metrics is not None else None
    # the connection histograms are fed from the round trip's row (the call's timing in it)
    timed_rows = metrics is not None and metrics.connection is not None
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

    def series(url: str) -> ClientSlot:
        assert metrics is not None and slots is not None
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
            found = hosts[key] = ClientSlot(metrics, labels)
            slots.register(found.drain, found.rows.__len__)
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
            host = series(url) if metrics is not None else None
            # one clock reading for the busy time and the round trip
            busy = exchange if track else None
            timing = timing_token = None
            failure: BaseException | None = None
            failed = 0
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
                failed = CANCELED
                raise
            except BaseException as exc:
                failure = exc
                failed = TIMEDOUT if isinstance(exc, BackendError) and "timeout" in str(exc) else FAILED
                if sid is not None:
                    span_status, message = 2, redactor.text(str(exc))[:512]
                raise
            finally:
                # the upstream client's end of the body read when it timed the call (set as it
                # handed the answer back): one clock reading for both
                if busy is not None:
                    end = busy.upstream_ended()
                elif timing is not None and timing.read_end and failure is None:
                    end = timing.read_end
                else:
                    end = _perf()
                elapsed = end - start
                size = len(response.body) if status else 0
                if host is not None:
                    # one row; the host's counters and histograms are fed from it when read (ClientSlot)
                    host.append((status, elapsed, size, len(body) if body else 0, failed,
                                 timing if timed_rows else None))  # fmt: skip
                if timing is not None and timing_token is not None and record_timing is not None:
                    TIMING.reset(timing_token)
                    record_timing(timing, status, size, failure, sid, exchange)
                if sid is not None:
                    assert exchange is not None
                    trace = exchange.trace
                    parent = (exchange.backend_span if solo else SPAN.get()) or exchange.proxy_span
                    conn = first_byte = None
                    if trace_conn and failure is None and timing is not None:
                        conn = timing.get_conn, timing.dns, timing.tls
                        if timing.first_byte:
                            first_byte = wall_ns(timing.first_byte)
                    address, port = peer(url)
                    add_span((  # type: ignore[misc]
                        template, trace.trace_id, sid, parent or exchange.span or trace.parent_id, start_ns,
                        start_ns + int(elapsed * 1e9), span_status, message, redactor.url(url), address, port,
                        method, len(body or b""), status, size, conn, first_byte,
                    ))  # fmt: skip

        return observed

    return middleware
