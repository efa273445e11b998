from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from krakenpy.telemetry.metrics.instruments import fold_method, gin_route, lura_pattern, unmatched_route
from krakenpy.telemetry.metrics.registry import OVERFLOW, Registry
from krakenpy.telemetry.metrics.stats import StatsHistogram, StatsRegistry


def test_registry_renders_valid_exposition_text() -> None:
    r = Registry()
    h = r.family("http.server.duration", "histogram", ["http.route"]).histogram("/a")
    for v in (0.005, 0.01, 0.3, 20.0):
        h.observe(v)
    r.family("http.client.request.size", "counter", ["x"]).counter('q"uote').inc(3)
    r.family("size", "histogram", ["k"], unit="By").histogram("v").observe(1)
    families = {f.name: f for f in text_string_to_metric_families(r.render('scope="s"'))}
    samples = {(s.name, s.labels.get("le")): s for s in families["http_server_duration"].samples}
    assert samples[("http_server_duration_bucket", "0.01")].value == 2  # le is inclusive
    assert samples[("http_server_duration_bucket", "+Inf")].value == 4
    assert samples[("http_server_duration_count", None)].value == 4
    assert samples[("http_server_duration_sum", None)].value == 20.315
    assert families["http_client_request_size"].samples[0].labels["x"] == 'q"uote'
    assert "size_bytes" in families  # the Go exporter's unit suffix


def test_registry_chunked_render_equals_whole_render() -> None:
    r = Registry()
    family = r.family("m", "histogram", ["i"])
    for i in range(50):
        family.histogram(str(i)).observe(i / 10)
    whole: list[str] = []
    family.render(whole, "")
    chunked: list[str] = []
    pauses = sum(1 for _ in family.render_chunks(chunked, "", 16))
    assert chunked == whole and pauses == 3


def test_registry_series_cap_folds_and_counts() -> None:
    r = Registry(max_series=3)
    family = r.family("m", "counter", ["route", "code"])
    for i in range(10):
        family.counter(f"/r{i}", "200").inc()
    assert len(family) == 4  # three, then one __other__ series
    assert family.counter(OVERFLOW, OVERFLOW).value == 7 and r.overflow.value == 7


def test_instruments_label_helpers() -> None:
    assert gin_route("/users/{id}/x/{name}") == "/users/:id/x/:name"
    assert gin_route("/u/{{.Id}}") == "/u/:id"
    assert lura_pattern("/u/{id}") == "/u/{{.Id}}"
    assert unmatched_route(404) == "404 Not Found" and unmatched_route(799) == "799"
    assert fold_method("PATCH") == "PATCH" and fold_method("PURGE") == "_OTHER"


def test_stats_histogram_percentiles_and_reservoir() -> None:
    h = StatsHistogram()
    for v in range(1, 101):
        h.update(v)
    out: dict[str, float] = {}
    h.snapshot("x", out)
    assert out["x.count"] == 100 and out["x.min"] == 1.0 and out["x.max"] == 100.0 and out["x.mean"] == 50.5
    assert out["x.50-percentile"] == 50.5 and out["x.99-percentile"] == 99.99
    for v in range(5000):
        h.update(v)
    assert h.count == 5100 and len(h.values) == 1028  # a uniform reservoir, bounded


def test_stats_registry_tick_clears_histograms_only() -> None:
    stats = StatsRegistry()
    key = stats.counter_key("router.response./a.status.200.count")
    stats.inc(key)
    stats.histogram("router.response./a.time").update(5)
    stats.connected = 3
    stats.tick()
    snap = stats.snapshot()
    assert snap[key] == 1 and snap["krakend.router.response./a.time.count"] == 0
    assert snap["krakend.router.connected-gauge"] == 3 and snap["krakend.router.connected-total"] == 3
