"""krakend-opencensus' sampling rule and span shapes on krakenpy's one tracer.

The telemetry layers record every span once, in krakend-otel's shape (``krakend.stage`` says
which layer). The OpenCensus exporters rename and re-attribute them **when they export**, off the
request path, to what krakend-opencensus makes:

============== =============================== ======= ==============================================
layer          name                            kind    attributes
============== =============================== ======= ==============================================
router         the endpoint, ``/users/:id``    server  ``http.path``, ``http.url``, ``http.host``,
                                                       ``http.method``, ``http.user_agent``,
                                                       ``http.status_code``
pipe           ``pipe-/users/:id``             —       ``complete``, ``error`` or ``canceled``
backend        ``backend-/u/{{.Id}}``          —       ``complete``, ``error`` or ``canceled``
HTTP client    the request's URL path          client  ``http.*`` as the router, status from the code
============== =============================== ======= ==============================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from krakenpy.telemetry.opencensus.settings import Layers
from krakenpy.telemetry.trace.context import Sampler
from krakenpy.telemetry.trace.spans import ERROR, Span

__all__ = ["CLIENT", "SERVER", "UNSPECIFIED", "OcSpan", "OpenCensusSampler", "Translator", "http_status"]

#: OpenCensus span kinds
UNSPECIFIED, SERVER, CLIENT = 0, 1, 2
_KINDS: Final = {2: SERVER, 3: CLIENT}  # krakenpy's SERVER, CLIENT
#: OpenCensus (gRPC) status codes and their names
STATUS_NAMES: Final = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)  # fmt: skip
_BY_HTTP: Final = {499: 1, 400: 3, 422: 3, 504: 4, 404: 5, 403: 7, 401: 16, 429: 8, 501: 12, 503: 14, 200: 0}
UNKNOWN: Final = 2


class OpenCensusSampler(Sampler):
    """``sample_rate`` as OpenCensus applies it: ≤ 0 never, ≥ 100 always, else a span whose caller
    sampled it is sampled and the others by their trace id (the upper 63 bits against the rate)."""

    __slots__ = ("percent",)

    def __init__(self, percent: int) -> None:
        super().__init__(1.0)
        self.percent = percent
        self._bound = int(percent / 100 * (1 << 63))

    def sample(self, trace_id: str, parent_sampled: bool | None) -> bool:
        if self.percent <= 0:
            return False
        if self.percent >= 100 or parent_sampled:
            return True
        return int(trace_id[:16], 16) >> 1 < self._bound


def http_status(code: int) -> tuple[int, str]:
    """ochttp's ``TraceStatus``: an HTTP status as an OpenCensus status code and its name."""
    status = _BY_HTTP.get(code, UNKNOWN if code < 200 or code >= 400 else 0)
    return status, STATUS_NAMES[status]


@dataclass(slots=True)
class OcSpan:
    """One span as the OpenCensus exporters see it (ids as hex strings, times in µs)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: int
    start_us: int
    duration_us: int
    attributes: dict[str, Any]
    status_code: int = 0
    status_message: str = ""


class Translator:
    """krakenpy span → :class:`OcSpan`, or ``None`` for what krakend-opencensus would not record
    (a request no endpoint matched, a layer ``enabled_layers`` turns off)."""

    def __init__(self, layers: Layers, endpoint_routes: Iterable[str]) -> None:
        self.layers = layers
        #: the endpoints' routes in KrakenD's stored form (``/users/:id``): only they get router spans
        self.routes = frozenset(endpoint_routes)

    def __call__(self, span: Span) -> OcSpan | None:
        attrs = span.all_attributes()
        stage = attrs.get("krakend.stage")
        if stage == "global":
            return self._router(span, attrs) if self.layers.router else None
        if stage == "proxy":
            return self._stage(span, "pipe-") if self.layers.pipe else None
        if stage == "backend":
            return self._stage(span, "backend-") if self.layers.backend else None
        if stage == "backend-request":
            if span.name == "http.client.response.read.tracker":
                return None  # krakend-otel's body-read span (read_payload): krakend-opencensus has none
            return self._client(span, attrs) if self.layers.backend else None
        return self._base(span, span.name, _KINDS.get(span.kind, UNSPECIFIED), {})

    def _base(self, span: Span, name: str, kind: int, attributes: dict[str, Any]) -> OcSpan:
        start = span.start_ns // 1000
        return OcSpan(
            span.trace_id, span.span_id, span.parent_id, name, kind, start,
            max(span.end_ns // 1000 - start, 0), attributes,
        )  # fmt: skip

    def _router(self, span: Span, attrs: dict[str, Any]) -> OcSpan | None:
        route = attrs.get("http.route")
        if route not in self.routes:
            return None  # 404s, /__health…: krakend-opencensus only wraps the endpoints' handlers
        url = str(attrs.get("url.full", ""))
        out: dict[str, Any] = {
            "http.path": url.split("?", 1)[0],
            "http.url": url,
            "http.host": str(attrs.get("server.address", "")),
            "http.method": str(attrs.get("http.request.method", "")),
        }
        agent = attrs.get("user_agent.original")
        if agent:
            out["http.user_agent"] = str(agent)
        status = attrs.get("http.response.status_code")
        if isinstance(status, int):
            out["http.status_code"] = status
        return self._base(span, str(route), SERVER, out)

    def _stage(self, span: Span, prefix: str) -> OcSpan:
        attrs = span.all_attributes()
        out: dict[str, Any] = {}
        if attrs.get("canceled"):
            out["canceled"] = True
        elif span.status == ERROR:
            out["error"] = True
        out["complete"] = bool(attrs.get("complete", False))
        return self._base(span, prefix + span.name, UNSPECIFIED, out)

    def _client(self, span: Span, attrs: dict[str, Any]) -> OcSpan:
        url = attrs.get("url.full")
        if not isinstance(url, str):  # a Lambda invocation: no URL, keep its RPC attributes
            lam = self._base(span, span.name, CLIENT, {k: v for k, v in attrs.items() if k != "krakend.stage"})
            if span.status == ERROR:
                lam.status_code, lam.status_message = UNKNOWN, span.status_message
            return lam
        parts = urlsplit(url)
        out: dict[str, Any] = {
            "http.path": parts.path,
            "http.url": url,
            "http.host": parts.netloc.rpartition("@")[2],
            "http.method": str(attrs.get("http.request.method", "")),
        }
        status = attrs.get("http.response.status_code")
        made = self._base(span, parts.path, CLIENT, out)
        if isinstance(status, int) and status > 0:
            out["http.status_code"] = status
            made.status_code, made.status_message = http_status(status)
        elif span.status == ERROR:
            made.status_code, made.status_message = UNKNOWN, span.status_message
        return made
