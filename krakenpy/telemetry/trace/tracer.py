"""The tracer of one gateway: KrakenD's layer options, the sampling rule, the propagators and the
span buffer the exporter drains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.context import (
    Sampler,
    TraceState,
    compile_extract,
    compile_inject,
    extract,
    hop_span_id,
)
from krakenpy.telemetry.trace.spans import Span, SpanBuffer

__all__ = ["LayerTraceOptions", "Tracer"]

DEFAULT_SKIP_PATHS = frozenset({"/__health", "/__debug/", "/__echo/", "/__stats/"})
_COMPILED_FROM = frozenset({"propagators", "extract_propagators", "sampler"})


@dataclass(frozen=True, slots=True)
class LayerTraceOptions:
    """``layers.<layer>`` trace settings (``backend`` adds the round-trip switches)."""

    enabled: bool = True
    report_headers: bool = False
    skip_headers: frozenset[str] = frozenset()
    static: tuple[tuple[str, str], ...] = ()
    round_trip: bool = True
    read_payload: bool = True
    detailed_connection: bool = True


@dataclass(eq=False)
class Tracer:
    """Per-gateway tracing state; per-request work is in the telemetry middlewares."""

    sampler: Sampler
    propagators: tuple[str, ...]
    buffer: SpanBuffer
    redactor: Redactor
    skip_paths: frozenset[str] = DEFAULT_SKIP_PATHS
    #: read the caller's trace context (``layers.global.disable_propagation`` off); as krakend-otel,
    #: whose global layer alone drops its propagator, backends get the gateway's context either way
    propagation: bool = True
    global_layer: LayerTraceOptions = field(default_factory=LayerTraceOptions)
    proxy_layer: LayerTraceOptions = field(default_factory=LayerTraceOptions)
    backend_layer: LayerTraceOptions = field(default_factory=LayerTraceOptions)
    resource: Mapping[str, Any] = field(default_factory=dict)
    #: (route as ``/a/:id``, method) → an endpoint's own ``global.traces_static_attributes``, which
    #: replace the global layer's on its SERVER spans (empty: none; the general edge handler then)
    global_route_static: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: the formats read from callers when they differ from those written to backends
    #: (telemetry/opencensus reads single and multi-header B3, writes the multi-header form)
    extract_propagators: tuple[str, ...] | None = None
    _extract: Callable[[Callable[[str], str | None]], TraceState] | None = field(default=None, init=False, repr=False)
    _inject: Callable[[TraceState, str], list[tuple[str, str]]] | None = field(default=None, init=False, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # setups adjust the propagators after construction (opencensus): compile again on next use
        object.__setattr__(self, name, value)
        if name in _COMPILED_FROM:
            object.__setattr__(self, "_extract", None)
            object.__setattr__(self, "_inject", None)

    def _compile(self) -> None:
        readers = self.propagators if self.extract_propagators is None else self.extract_propagators
        object.__setattr__(self, "_extract", compile_extract(readers, self.sampler))
        object.__setattr__(self, "_inject", compile_inject(self.propagators))

    def start(self, get: Callable[[str], str | None]) -> TraceState:
        """The request's trace (continued, or new) with its sampling decision."""
        if not self.propagation:
            return extract(lambda _n: None, (), self.sampler)
        if self._extract is None:
            self._compile()
        return self._extract(get)  # type: ignore[misc]

    def extractor(self) -> Callable[[Callable[[str], str | None]], TraceState]:
        """:meth:`start` compiled for the current settings (a layer binds it when it is composed)."""
        if not self.propagation:
            return self.start
        if self._extract is None:
            self._compile()
        return self._extract  # type: ignore[return-value]

    def injector(self) -> Callable[[TraceState, str], list[tuple[str, str]]]:
        """:meth:`headers` compiled for the current propagators; the caller passes a span id."""
        if self._inject is None:
            self._compile()
        return self._inject  # type: ignore[return-value]

    def span(self, trace: TraceState, parent: str | None, name: str, kind: int, attributes: dict[str, Any]) -> Span:
        return Span(trace.trace_id, parent, name, kind, attributes)

    def end(self, span: Span) -> None:
        self.buffer.end(span)

    def headers(self, trace: TraceState, span_id: str | None) -> list[tuple[str, str]]:
        """Propagation headers for the next hop (an unsampled trace still sends flags ``00``)."""
        if self._inject is None:
            self._compile()
        return self._inject(trace, span_id or hop_span_id())  # type: ignore[misc]

    def header_attributes(
        self,
        prefix: str,
        pairs: Iterable[tuple[str, str]],
        options: LayerTraceOptions,
        secrets: tuple[str, ...] = (),
    ) -> dict[str, list[str]]:
        """``http.request.header.<name>`` arrays, redacted, minus ``skip_headers``; ``secrets``: the
        request's own credentials (:meth:`Redactor.request_secrets`), masked as literals."""
        out: dict[str, list[str]] = {}
        skip = options.skip_headers
        for name, value in pairs:
            lname = name.lower()
            if lname in skip:
                continue
            out.setdefault(f"{prefix}.{lname}", []).append(self.redactor.header_text(name, value, secrets))
        return out
