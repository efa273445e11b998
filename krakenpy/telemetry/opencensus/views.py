"""krakend-opencensus' default views (OpenCensus' ``ochttp`` server and client views) on krakenpy's
metrics registry, and how they are written for Prometheus, InfluxDB and the logger.

=============================================================== =========== ===========================
view (Prometheus: ``[<namespace>_]opencensus_io_http_…``)       aggregation default tags
=============================================================== =========== ===========================
``opencensus.io/http/server/request_count``                     count       —
``opencensus.io/http/server/request_count_by_method``           count       ``http.method``
``opencensus.io/http/server/response_count_by_status_code``     count       ``http.status``
``opencensus.io/http/server/latency`` (ms)                      histogram   —
``opencensus.io/http/server/request_bytes``                     histogram   —
``opencensus.io/http/server/response_bytes``                    histogram   —
``opencensus.io/http/client/completed_count``                   count       method, status
``opencensus.io/http/client/roundtrip_latency`` (ms)            histogram   method, status
``opencensus.io/http/client/sent_bytes``                        histogram   method, status
``opencensus.io/http/client/received_bytes``                    histogram   method, status
=============================================================== =========== ===========================

With a ``prometheus`` exporter, its ``tag_*`` switches add ``http.host``/``http.path``/
``http.method``/``http.status`` to every server view and ``http_client_host``/``http_client_path``
(method and status are already there) to every client view, as krakend-opencensus does. Paths are
the endpoint (``/users/{id}``) or the backend pattern (``/u/{id}``), lower-cased: never the raw path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from krakenpy.telemetry.influx import line
from krakenpy.telemetry.metrics.registry import MAX_SERIES, Counter, Family, Histogram, Registry, prom_name
from krakenpy.telemetry.opencensus.settings import PrometheusOptions

__all__ = ["CLIENT_VIEWS", "SERVER_VIEWS", "ClientViews", "ServerViews", "ViewFamily", "go_float", "view_lines"]

SIZE_BOUNDS: Final = (
    1024.0, 2048.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
    268435456.0, 1073741824.0, 4294967296.0,
)  # fmt: skip
LATENCY_BOUNDS: Final = (
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 40.0, 50.0, 65.0, 80.0, 100.0, 130.0,
    160.0, 200.0, 250.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0,
    100000.0,
)  # fmt: skip
#: label sets cached per recorder; past it, series are looked up on every call (still capped per family)
_CACHE: Final = 4096


def go_float(value: float) -> str:
    """A number as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it (Prometheus' Go client):
    ``1024``, ``1.048576e+06``, ``0.25``."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # Go's shortest 'g' switches to exponents from 1e+06
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{prefix}0.{'0' * (-exp - 1)}{text}"
    if len(text) <= exp + 1:
        return prefix + text + "0" * (exp + 1 - len(text))
    return f"{prefix}{text[: exp + 1]}.{text[exp + 1 :]}"


@dataclass(frozen=True, slots=True)
class View:
    name: str
    description: str
    kind: Literal["counter", "histogram"]
    tags: tuple[str, ...] = ()
    bounds: tuple[float, ...] = ()
    #: recorded when the request starts (no status tag yet)
    at_start: bool = False


_S = "opencensus.io/http/server/"
_C = "opencensus.io/http/client/"
#: in the order the Prometheus fields are used by :class:`ServerViews`
SERVER_VIEWS: Final = (
    View(_S + "request_count", "Count of HTTP requests started", "counter", at_start=True),
    View(_S + "request_count_by_method", "Server request count by HTTP method", "counter", ("http.method",), (), True),
    View(_S + "response_count_by_status_code", "Server response count by status code", "counter", ("http.status",)),
    View(_S + "latency", "Latency distribution of HTTP requests", "histogram", (), LATENCY_BOUNDS),
    View(_S + "request_bytes", "Size distribution of HTTP request body", "histogram", (), SIZE_BOUNDS),
    View(_S + "response_bytes", "Size distribution of HTTP response body", "histogram", (), SIZE_BOUNDS),
)
_CM = ("http_client_method", "http_client_status")
CLIENT_VIEWS: Final = (
    View(_C + "completed_count", "Count of completed requests, by HTTP method and response status", "counter", _CM),
    View(_C + "roundtrip_latency", "End-to-end latency, by HTTP method and response status", "histogram", _CM,
         LATENCY_BOUNDS),
    View(_C + "sent_bytes", "Total bytes sent in request body (not including headers), by HTTP method and response "
         "status", "histogram", _CM, SIZE_BOUNDS),
    View(_C + "received_bytes", "Total bytes received in response bodies (not including headers but including "
         "error responses with bodies), by HTTP method and response status", "histogram", _CM, SIZE_BOUNDS),
)  # fmt: skip


class ViewFamily(Family):
    """A view's series, named and numbered as OpenCensus' Prometheus exporter writes them: the
    namespace and the sanitized view name, no unit or ``_total`` suffix, Go's float format."""

    fmt_number = staticmethod(go_float)

    def __init__(self, view: View, label_names: tuple[str, ...], namespace: str, registry: Registry) -> None:
        super().__init__(
            view.name, view.kind, label_names, help=view.description, buckets=view.bounds or LATENCY_BOUNDS,
            max_series=MAX_SERIES, on_overflow=registry.overflow.inc,
        )  # fmt: skip
        self.view = view
        self._prom = prom_name(f"{namespace}_{view.name}" if namespace else view.name)

    def prometheus_name(self) -> str:
        return self._prom


def _families(
    registry: Registry, views: tuple[View, ...], extra: tuple[str, ...], namespace: str
) -> list[tuple[ViewFamily, tuple[str, ...]]]:
    out = []
    for view in views:
        names = tuple(sorted(set(view.tags) | set(extra)))
        family = registry.add(ViewFamily(view, names, namespace, registry))
        assert isinstance(family, ViewFamily)
        out.append((family, names))
    return out


class ServerViews:
    """The six server views; :meth:`record` is called once per request an endpoint answered."""

    def __init__(self, registry: Registry, prometheus: PrometheusOptions | None) -> None:
        p = prometheus
        extra = tuple(
            key for key, on in (("http.host", p and p.tag_host), ("http.path", p and p.tag_path),
                                ("http.method", p and p.tag_method), ("http.status", p and p.tag_statuscode)) if on
        )  # fmt: skip
        self._families = _families(registry, SERVER_VIEWS, extra, p.namespace if p else "")
        self._uses_host = "http.host" in extra
        self._uses_path = "http.path" in extra
        self._cache: dict[tuple[str, str, str, int], tuple[Counter, Counter, Counter, Histogram, Histogram, Histogram]]
        self._cache = {}

    def _series(
        self, host: str, path: str, method: str, status: int
    ) -> tuple[Counter, Counter, Counter, Histogram, Histogram, Histogram]:
        tags = {"http.host": host, "http.path": path, "http.method": method, "http.status": str(status)}
        started = {**tags, "http.status": ""}  # recorded before the status is known
        made = [
            family.series(*((started if family.view.at_start else tags)[n] for n in names))
            for family, names in self._families
        ]
        c1, c2, c3, h1, h2, h3 = made
        assert isinstance(c1, Counter) and isinstance(c2, Counter) and isinstance(c3, Counter)
        assert isinstance(h1, Histogram) and isinstance(h2, Histogram) and isinstance(h3, Histogram)
        return c1, c2, c3, h1, h2, h3

    def record(self, host: str, path: str, method: str, status: int, ms: float, size_in: int, size_out: int) -> None:
        key = (host if self._uses_host else "", path if self._uses_path else "", method, status)
        found = self._cache.get(key)
        if found is None:
            found = self._series(*key)
            if len(self._cache) < _CACHE:
                self._cache[key] = found
        requests, by_method, by_status, latency, bytes_in, bytes_out = found
        requests.value += 1
        by_method.value += 1
        by_status.value += 1
        latency.observe(ms)
        bytes_in.observe(size_in)
        bytes_out.observe(size_out)


class ClientViews:
    """The four client views; one recorder per backend (its path and method are fixed)."""

    def __init__(self, registry: Registry, prometheus: PrometheusOptions | None) -> None:
        p = prometheus
        extra = tuple(
            key for key, on in (("http_client_host", p and p.tag_host), ("http_client_path", p and p.tag_path)) if on
        )
        self._families = _families(registry, CLIENT_VIEWS, extra, p.namespace if p else "")
        self.uses_host = "http_client_host" in extra

    def series(self, host: str, path: str, method: str, status: int) -> tuple[Counter, Histogram, Histogram, Histogram]:
        tags = {"http_client_host": host, "http_client_path": path, "http_client_method": method,
                "http_client_status": str(status)}  # fmt: skip
        done, latency, sent, received = (family.series(*(tags[n] for n in names)) for family, names in self._families)
        assert isinstance(done, Counter) and isinstance(latency, Histogram)
        assert isinstance(sent, Histogram) and isinstance(received, Histogram)
        return done, latency, sent, received


def view_rows(registry: Registry) -> Iterator[tuple[ViewFamily, dict[str, str], Counter | Histogram]]:
    """Every view row: its family, its tags (unset ones left out) and its series."""
    for family in registry.families():
        if not isinstance(family, ViewFamily):
            continue
        for values, series in list(family.items()):
            if isinstance(series, Histogram):
                series.fold()
            yield family, {n: v for n, v in zip(family.label_names, values, strict=True) if v}, series


def view_lines(registry: Registry, instance: str, now_ns: int, extra: Mapping[str, str] | None = None) -> list[str]:
    """The InfluxDB points of every row (measurement = view name; fields ``count``, and ``sum`` and
    ``mean`` for distributions); ``instance`` (``service_name``) tags every point when set, and
    ``extra`` (the ``worker`` of ``run -w N``) too."""
    out: list[str] = []
    for family, tags, series in view_rows(registry):
        if instance:
            tags = {**tags, "instance": instance}
        if extra:
            tags = {**tags, **extra}
        if isinstance(series, Histogram):
            mean = series.sum / series.count if series.count else 0.0
            fields: dict[str, int | float] = {"count": series.count, "sum": float(series.sum), "mean": mean}
        else:
            fields = {"count": int(series.value)}
        out.append(line(family.name, tags, fields, now_ns))
    return out
