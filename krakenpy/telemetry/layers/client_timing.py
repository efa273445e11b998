"""krakend-otel's ``detailed_connection`` and ``read_payload`` for one HTTP backend, recorded from the
:class:`~krakenpy.backends.conntiming.CallTiming` the upstream client filled during the call.

- metrics: ``http.client.request.get-conn.duration``, ``.dns.duration``, ``.tls.duration`` (with the
  round-trip attributes, every call: 0 for what a kept-alive connection did not do) and
  ``http.client.response.read.size|size-hist|time|time-hist|errors`` (``error="true"`` when the body
  failed after the head arrived);
- traces: ``get-conn-duration``, ``dns-duration``, ``tls-duration`` and the event
  ``first-byte-time`` on the CLIENT span of a call that succeeded, and the INTERNAL span
  ``http.client.response.read.tracker`` (``http.client.response.read.size``, ``.time``) from the
  head to the end of the body.
"""

from __future__ import annotations

import time
from asyncio import CancelledError
from typing import Any

from krakenpy.backends.conntiming import CallTiming, now
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.proxy.deadline import DEADLINE
from krakenpy.telemetry.exchange import Exchange, current_secrets
from krakenpy.telemetry.failures import error_text
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.client_slot import ReadSlot
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.context import TraceState
from krakenpy.telemetry.trace.spans import SPAN, TAIL2, SpanBuffer, shape_for
from krakenpy.telemetry.trace.templates import ReadTemplate

__all__ = ["ReadRecorder", "timing_recorder", "wall_ns"]

_READ = "http.client.response.read."


def wall_ns(at: float) -> int:
    """A ``perf_counter`` reading as Unix nanoseconds (span times)."""
    return time.time_ns() - int((now() - at) * 1e9)


def timing_recorder(
    hub: Telemetry, endpoint: EndpointConfig, backend: BackendConfig, route: str, ep_route: str
) -> ReadRecorder | None:
    """The recorder of one backend, or ``None`` when neither option is on anywhere."""
    metrics = hub.client_metrics
    connection = metrics.connection if metrics is not None else None
    reads = hub.read_metrics
    tracer = hub.tracer
    layer = tracer.backend_layer if tracer is not None else None
    traced = tracer is not None and layer is not None and layer.enabled and ep_route not in tracer.skip_paths
    trace_read = traced and layer is not None and layer.read_payload
    trace_conn = traced and layer is not None and layer.round_trip and layer.detailed_connection
    if connection is None and reads is None and not trace_conn and not trace_read:
        return None
    redactor = hub.redactor
    read_slot: ReadSlot | None = None
    if reads is not None:
        read_slot = ReadSlot(reads, reads.labels(route, backend.method, ep_route, endpoint.method))
        hub.metric_slots().register(read_slot.drain, read_slot.size)
    read_attrs: dict[str, Any] = {
        "http.request.method": backend.method,
        "http.route": route,
        "krakend.endpoint.route": ep_route,
        "krakend.endpoint.method": endpoint.method,
        "krakend.stage": "backend-request",
    }
    if layer is not None:
        read_attrs.update(layer.static)
    buffer = tracer.buffer if tracer is not None else None
    shape = shape_for(read_attrs, frozenset({_READ + "size", _READ + "time"}))
    # the read span's record: (template, trace, id, parent, start, end, status, message, size, seconds)
    template = ReadTemplate(shape, read_attrs)
    return ReadRecorder(read_slot, trace_read and buffer is not None, buffer, template, redactor)


class ReadRecorder:
    """One backend's body reads, recorded at the end of each timed call (:meth:`record`): the read
    metrics' row and the read span. A class of its own, held typed by the client layer: compiled, the
    call is a native method call and its fields are struct reads (it was a closure of ten free
    variables called through a ``Callable`` attribute: cell reads and a generic vectorcall, ~1.1 k
    machine instructions a request, round 22, ``trace19``). The connection histograms are fed from
    the client layer's row (its ClientSlot)."""

    def __init__(
        self,
        read_slot: ReadSlot | None,
        trace_read: bool,
        buffer: SpanBuffer | None,
        template: ReadTemplate,
        redactor: Redactor,
    ) -> None:
        self.read_slot = read_slot
        #: the read span recorded (``read_payload`` traced on the endpoint, a span buffer to add it to)
        self.trace_read = trace_read
        self.buffer = buffer
        self.template = template
        self.redactor = redactor

    def record(
        self,
        timing: CallTiming,
        size: int,
        failure: BaseException | None,
        span: bytes | None,
        exchange: Exchange | None,
    ) -> None:
        """One call's read: its ``timing``, the response's body ``size``, the call's ``failure``, the
        CLIENT span's id (``span``, None when unrecorded) and the request's ``exchange``."""
        # (the CLIENT span's connection times and first-byte event: the client layer writes them)
        head = timing.head
        if not head:  # no answer head: there was no body to read (krakend-otel wraps a response's body)
            return
        if not timing.read_end:
            timing.read_end = now()  # the read's end as the call ends (the fold comes later)
        read_slot = self.read_slot
        if read_slot is not None:
            # numbers only (ReadSlot): a flag, not the exception (its traceback would keep this
            # call's bodies alive until the fold), the times, not the CallTiming
            read_slot.record(head, timing.read_end, size, failure is not None, timing.read_size)
        buffer = self.buffer
        if not self.trace_read or exchange is None or buffer is None:
            return
        # typed: compiled, its fields are read from the native object (``Any``: two lookups by name)
        trace: TraceState | None = exchange.trace
        if trace is None or not trace.sampled:
            return
        end = timing.read_end
        seconds = end - head if end > head else 0.0
        nbytes = size if failure is None else timing.read_size if timing.read_size > 0 else 0
        n = exchange.made
        exchange.made = n + 1
        status, message = 0, ""
        if failure is not None:
            if isinstance(failure, CancelledError):  # the deadline's (it says so) or a client gone: as the CLIENT span
                message = DEADLINE if failure.args == (DEADLINE,) else "context canceled"
            else:
                message = error_text(failure, self.redactor, current_secrets(self.redactor))[:512]
            status = 2
        # perf_counter readings as Unix nanoseconds (the edge's offset when it read one)
        offset = exchange.wall or time.time_ns() - int(now() * 1e9)
        buffer.add((
            self.template, trace.wire, exchange.spans + TAIL2[n & 0xFFF],
            span or SPAN.get() or exchange.backend_span or exchange.proxy_span or exchange.span or trace.parent_raw,
            offset + int(head * 1e9), offset + int(end * 1e9), status, message, nbytes, seconds,
        ))  # fmt: skip
