"""krakend-otel's instruments per layer, with per-route recorders built at compile time.

A request touches only objects looked up by a few dict reads: the route recorder (built when the
endpoint is compiled, or once for each unmatched status), then the series of its status code.
Label values come from the compiled route, never the raw path.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

from krakenpy.telemetry.metrics.registry import SIZE_BUCKETS, Counter, Family, Histogram, Registry, prom_name

__all__ = [
    "BackendMetrics",
    "ClientMetrics",
    "ReadMetrics",
    "ProxyMetrics",
    "ServerMetrics",
    "LAYER_LABELS",
    "fold_method",
    "left_out",
    "gin_route",
    "lura_pattern",
    "unmatched_route",
]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_PARAM = re.compile(r"\{([^}/]+)\}")
Static = tuple[tuple[str, str], ...]


#: each layer's own label names, before and after its static attributes (what those cannot be named)
SERVER_LABELS: Final = ("http.request.method", "url.scheme", "http.route", "http.response.status_code")
PROXY_LABELS: Final = ("http.request.method", "http.route", "error", "canceled", "complete")
_BACKEND_HEAD: Final = ("http.request.method", "http.route", "krakend.endpoint.route", "krakend.endpoint.method")
BACKEND_LABELS: Final = (*_BACKEND_HEAD, "error", "canceled", "complete")
CLIENT_LABELS: Final = (*_BACKEND_HEAD, "clientname", "server.address", "server.port", "http.response.status_code")
READ_LABELS: Final = (*_BACKEND_HEAD, "error")
#: the labels of every instrument a layer's ``metrics_static_attributes`` (``static_attributes`` of the
#: backend) go on, by the layer's name in ``layers``
LAYER_LABELS: Final = {
    "global": SERVER_LABELS,
    "proxy": PROXY_LABELS,
    "backend": (*BACKEND_LABELS, *CLIENT_LABELS[4:], *READ_LABELS[4:]),
}
#: label names the text format keeps for itself (a histogram's bucket bound, a summary's quantile) and
#: those the exporter adds to every series (the instrumentation scope's)
_RESERVED: Final = frozenset({"le", "quantile", "otel_scope_name", "otel_scope_version"})


def _kept(own: tuple[str, ...], static: Static) -> tuple[int, ...]:
    """The positions of the static attributes an instrument labelled ``own`` can carry. Left out,
    each a scrape Prometheus refuses whole (a label twice in a series, or one it reserves): a key
    named as one of the instrument's labels once written (``http.route``, ``http_route``: the
    instrument's value is the one measured), ``le``, ``quantile``, ``otel_scope_*`` or ``__*``, and a key repeated
    later (the last one's value kept, as OTel's attribute sets keep it)."""
    taken = {prom_name(name) for name in own}
    last = {prom_name(key): i for i, (key, _) in enumerate(static)}
    return tuple(
        i
        for i, (key, _) in enumerate(static)
        if (name := prom_name(key)) not in taken and name not in _RESERVED and not name.startswith("__")
        and last[name] == i
    )  # fmt: skip


def left_out(layer: str, static: Static) -> tuple[str, ...]:
    """The static keys of ``layer`` its instruments leave out (:func:`_kept`; ``check`` warns)."""
    kept = set(_kept(LAYER_LABELS[layer], static))
    return tuple(key for i, (key, _) in enumerate(static) if i not in kept)


def _usable(own: tuple[str, ...], static: Static) -> Static:
    return tuple(static[i] for i in _kept(own, static))


def fold_method(method: str) -> str:
    """Known methods as they are, anything else ``_OTHER`` (bounded label values)."""
    return method if method in _METHODS else "_OTHER"


_LURA = re.compile(r"\{\{\.([^}/]+)\}\}")


def gin_route(template: str) -> str:
    """A template in KrakenD's stored route form: ``/users/{id}`` and ``/u/{{.Id}}`` → ``/users/:id``."""
    if "{{" in template:
        template = _LURA.sub(lambda m: ":" + m.group(1)[:1].lower() + m.group(1)[1:], template)
    return _PARAM.sub(lambda m: ":" + m.group(1), template)


def lura_pattern(url_pattern: str) -> str:
    """A backend pattern in lura's stored form: ``/u/{id}`` → ``/u/{{.Id}}`` (KrakenD's metric names)."""
    if "{{" in url_pattern:
        return url_pattern
    return _PARAM.sub(lambda m: "{{." + m.group(1)[:1].upper() + m.group(1)[1:] + "}}", url_pattern)


def unmatched_route(status: int) -> str:
    """The one route value of unmatched requests per status (``404 Not Found``), as krakend-otel."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class _RouteRecorder:
    __slots__ = ("_family_size", "_family_time", "_labels", "by_status")

    def __init__(self, time: Family, size: Family, labels: tuple[str, ...]) -> None:
        self._family_time = time
        self._family_size = size
        self._labels = labels
        self.by_status: dict[int, tuple[Histogram, Histogram]] = {}

    def series(self, status: int) -> tuple[Histogram, Histogram]:
        """The (duration, size) histograms of one status."""
        pair = self.by_status.get(status)
        if pair is None:
            head, tail = self._labels[:3], self._labels[3:]
            values = (*head, str(status), *tail)
            pair = self.by_status[status] = (self._family_time.histogram(*values), self._family_size.histogram(*values))
        return pair

    def record(self, status: int, seconds: float, size: int) -> None:
        pair = self.series(status)
        pair[0].observe(seconds)
        pair[1].observe(size)


class ServerMetrics:
    """Global layer: ``http.server.duration`` and ``http.server.response.size``."""

    def __init__(
        self,
        registry: Registry,
        *,
        static: Static = (),
        semconv: str = "",
        routes: dict[tuple[str, str], Static] | None = None,
    ) -> None:
        kept = _kept(SERVER_LABELS, static)
        static = tuple(static[i] for i in kept)
        names = [*SERVER_LABELS, *(k for k, _ in static)]
        new = semconv == "1.27"
        self.time = registry.family(
            "http.server.request.duration" if new else "http.server.duration", "histogram", names,
            help="Duration of HTTP server requests.", unit="s" if new else "",
        )  # fmt: skip
        self.size = registry.family(
            "http.server.response.body.size" if new else "http.server.response.size", "histogram", names,
            help="Size of HTTP server response bodies.", unit="By" if new else "", buckets=SIZE_BUCKETS,
        )  # fmt: skip
        self._static = tuple(v for _, v in static)
        #: (route, method) → an endpoint's own static values (``global.metrics_static_attributes``
        #: at endpoint level, the same keys as the service's): read when a route's recorder is made
        self._routes = {key: tuple(values[i][1] for i in kept) for key, values in (routes or {}).items()}
        self._recorders: dict[tuple[str, str, str], _RouteRecorder] = {}

    def recorder(self, route: str, method: str, scheme: str = "http") -> _RouteRecorder:
        """The recorder of one (route, method); ``route`` in KrakenD's form (``/u/:id``)."""
        key = (route, method, scheme)
        found = self._recorders.get(key)
        if found is None:
            labels = (fold_method(method), scheme, route, *self._routes.get((route, method), self._static))
            found = self._recorders[key] = _RouteRecorder(self.time, self.size, labels)
        return found


class ProxyMetrics:
    """Proxy layer: ``krakend.proxy.duration`` by (error, canceled, complete)."""

    def __init__(self, registry: Registry, *, static: Static = ()) -> None:
        static = _usable(PROXY_LABELS, static)
        names = ["http.request.method", "http.route", *(k for k, _ in static), "error", "canceled", "complete"]
        self.family = registry.family("krakend.proxy.duration", "histogram", names, help="Duration of the proxy layer.")
        self._static = tuple(v for _, v in static)

    def recorder(self, route: str, method: str) -> Outcomes:
        """The eight series of one endpoint, by (error, canceled, complete), each made when first
        observed."""
        return Outcomes(self.family, (fold_method(method), route, *self._static))


class BackendMetrics:
    """Backend layer: ``krakend.backend.duration`` by (error, canceled, complete)."""

    def __init__(self, registry: Registry, *, static: Static = ()) -> None:
        static = _usable(BACKEND_LABELS, static)
        names = [
            "http.request.method", "http.route", "krakend.endpoint.route", "krakend.endpoint.method",
            *(k for k, _ in static), "error", "canceled", "complete",
        ]  # fmt: skip
        self.family = registry.family(
            "krakend.backend.duration", "histogram", names, help="Duration of the backend layer."
        )
        self._static = tuple(v for _, v in static)

    def recorder(self, pattern: str, method: str, endpoint: str, endpoint_method: str) -> Outcomes:
        """The eight series of one backend, by (error, canceled, complete), each made when first
        observed."""
        head = (fold_method(method), pattern, endpoint, fold_method(endpoint_method), *self._static)
        return Outcomes(self.family, head)


def _b(value: bool) -> str:
    return "true" if value else "false"


class Outcomes:
    """A layer's ``krakend.*.duration`` series by (error, canceled, complete), each made when it is
    first read (the fold's first observation of that outcome), as krakend-otel's instruments make a
    series when they record one: a scrape shows the outcomes that happened, not all eight of every
    route (an error that was canceled and complete cannot happen; pre-made, 1,680 bucket lines of a
    200-backend config before any traffic)."""

    __slots__ = ("_family", "_head", "_made")

    def __init__(self, family: Family, head: tuple[str, ...]) -> None:
        self._family = family
        self._head = head
        self._made: dict[tuple[bool, bool, bool], Histogram] = {}

    def __getitem__(self, outcome: tuple[bool, bool, bool]) -> Histogram:
        found = self._made.get(outcome)
        if found is None:
            error, canceled, complete = outcome
            found = self._made[outcome] = self._family.histogram(*self._head, _b(error), _b(canceled), _b(complete))
        return found


class ClientMetrics:
    """Round-trip instruments of the backend HTTP client (``layers.backend.metrics.round_trip``)."""

    def __init__(self, registry: Registry, *, static: Static = (), semconv: str = "", detailed: bool = False) -> None:
        static = _usable(CLIENT_LABELS, static)
        fixed = [
            "http.request.method", "http.route", "krakend.endpoint.route", "krakend.endpoint.method",
            *(k for k, _ in static), "clientname", "server.address", "server.port",
        ]  # fmt: skip
        new = semconv == "1.27"
        # krakend-otel's semantic convention 1.27 keeps its own counters for detailed_connection only:
        # without it they are counted on a registry nobody exports (the call path stays the same)
        own = registry if detailed or not new else Registry()

        def counter(name: str, help_: str, unit: str = "") -> Family:
            return own.family(name, "counter", fixed, help=help_, unit=unit)

        self.started = counter("http.client.request.started.count", "Upstream requests started.")
        self.failed = counter("http.client.request.failed.count", "Upstream requests that got no response.")
        self.canceled = counter("http.client.request.canceled.count", "Upstream requests canceled.")
        self.timedout = counter("http.client.request.timedout.count", "Upstream requests that timed out.")
        self.request_size = counter(
            "http.client.request.body.size" if new else "http.client.request.size", "Upstream request body bytes.",
            "By" if new else "",
        )  # fmt: skip
        with_status = [*fixed, "http.response.status_code"]
        self.duration = registry.family(
            "http.client.request.duration" if new else "http.client.duration", "histogram", with_status,
            help="Upstream round-trip duration.", unit="s" if new else "",
        )  # fmt: skip
        self.response_size = registry.family(
            "http.client.response.body.size" if new else "http.client.response.size", "histogram", with_status,
            help="Upstream response body size.", unit="By" if new else "", buckets=SIZE_BUCKETS,
        )  # fmt: skip
        #: detailed_connection: time to obtain a connection, DNS and TLS (0 when not done), by status
        self.connection: tuple[Family, Family, Family] | None = None
        if detailed:
            unit = "s" if new else ""
            self.connection = (
                registry.family("http.client.request.get-conn.duration", "histogram", with_status,
                                help="Time spent acquiring a client connection.", unit=unit),
                registry.family("http.client.request.dns.duration", "histogram", with_status,
                                help="Time spent resolving the DNS name.", unit=unit),
                registry.family("http.client.request.tls.duration", "histogram", with_status,
                                help="Time spent on TLS negotiation.", unit=unit),
            )  # fmt: skip
        self._static = tuple(v for _, v in static)

    def labels(
        self, *, method: str, pattern: str, endpoint: str, endpoint_method: str, host: str, port: str
    ) -> tuple[str, ...]:
        """The fixed label values of one backend host (computed at compile time)."""
        return (
            fold_method(method),
            pattern,
            endpoint,
            fold_method(endpoint_method),
            *self._static,
            pattern,
            host,
            port,
        )


#: one series set of the body-read instruments: size counter and histogram, time counter and
#: histogram, errors counter
ReadSeries = tuple[Counter, Histogram, Counter, Histogram, Counter]


class ReadMetrics:
    """Body-read instruments of the backend HTTP client (``layers.backend.metrics.read_payload``):
    krakend-otel's ``http.client.response.read.*`` with the backend's fixed attributes and ``error``."""

    def __init__(self, registry: Registry, *, static: Static = ()) -> None:
        static = _usable(READ_LABELS, static)
        names = [
            "http.request.method", "http.route", "krakend.endpoint.route", "krakend.endpoint.method",
            *(k for k, _ in static), "error",
        ]  # fmt: skip
        prefix = "http.client.response.read."
        self.size = registry.family(prefix + "size", "counter", names, help="Upstream body bytes read.", unit="b")
        self.size_hist = registry.family(
            prefix + "size-hist", "histogram", names, help="Upstream body bytes read.", unit="b", buckets=SIZE_BUCKETS
        )
        self.time = registry.family(prefix + "time", "counter", names, help="Upstream body read time.", unit="s")
        self.time_hist = registry.family(
            prefix + "time-hist", "histogram", names, help="Upstream body read time.", unit="s"
        )
        self.errors = registry.family(prefix + "errors", "counter", names, help="Upstream body reads that failed.")
        self._static = tuple(v for _, v in static)

    def labels(self, pattern: str, method: str, endpoint: str, endpoint_method: str) -> tuple[str, ...]:
        """The fixed label values of one backend (computed at compile time)."""
        return (fold_method(method), pattern, endpoint, fold_method(endpoint_method), *self._static)

    def series(self, labels: tuple[str, ...], error: bool) -> ReadSeries:
        """The series of one backend's reads that succeeded (whose errors counter is not exported:
        it would stay 0) or failed (looked up when a read fails)."""
        values = (*labels, "true" if error else "false")
        return (
            self.size.counter(*values), self.size_hist.histogram(*values), self.time.counter(*values),
            self.time_hist.histogram(*values), self.errors.counter(*values) if error else Counter(""),
        )  # fmt: skip
