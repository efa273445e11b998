from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from krakenpy.server.census import Census
from krakenpy.telemetry.metrics.instruments import fold_method, gin_route, lura_pattern, unmatched_route
from krakenpy.telemetry.metrics.registry import OVERFLOW, TIME_BUCKETS, Histogram, Registry
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
    census = Census()  # the process's is CENSUS: GatewayServer.join and lost count there
    stats.tenure = census.tenure()
    census.opened += 1  # before the configuration serves: not its own
    census.hand_over(stats.tenure)
    census.opened += 3  # three connections accepted in this window
    census.closed += 1
    stats.tick()
    snap = stats.snapshot()
    assert snap[key] == 1 and snap["krakend.router.response./a.time.count"] == 0
    assert snap["krakend.router.connected-gauge"] == 3 and snap["krakend.router.connected-total"] == 3
    assert snap["krakend.router.disconnected-gauge"] == 1 and snap["krakend.router.connected"] == 0
    census.opened += 2
    stats.tick()
    snap = stats.snapshot()
    assert snap["krakend.router.connected-gauge"] == 2 and snap["krakend.router.connected-total"] == 5
    assert snap["krakend.router.disconnected-gauge"] == 0 and snap["krakend.router.disconnected-total"] == 1
    census.opened += 4  # a window that a reload ends before its tick: kept in the totals
    stats.retire()
    snap = stats.snapshot()
    assert snap["krakend.router.connected-total"] == 9 and snap["krakend.router.connected"] == 0


def test_histogram_fold_equals_observe_one_by_one() -> None:
    import random

    rng = random.Random(3)
    r = Registry()
    family = r.family("m", "histogram", ["k"])
    eager, lazy = family.histogram("eager"), family.histogram("lazy")
    bounds = list(eager.bounds)
    for batch in range(40):
        # odd batches fewer values than bounds: the fold's per-value bisection, not the sort
        for _ in range(rng.randrange(200) if batch % 2 == 0 else rng.randrange(1, len(bounds))):
            # bounds themselves (le is inclusive), values around them, beyond the last, ints
            v = rng.choice([rng.choice(bounds), rng.random() * 12, rng.randrange(20), rng.choice(bounds) + 1e-12])
            eager.observe(v)
            lazy.add(v)
        if batch % 3 == 0 or batch % 2:
            lazy.fold()  # folded in several batches, as reads and the edge's FOLD_EVERY do
    r.fold()
    assert lazy.pending == [] and lazy.buckets == eager.buckets
    assert (lazy.count, lazy.sum) == (eager.count, eager.sum)  # the same float: added in the same order
    text = r.render()
    assert text.count(" ") and [line.split()[-1] for line in text.splitlines() if 'k="lazy"' in line] == [
        line.split()[-1] for line in text.splitlines() if 'k="eager"' in line
    ]


def test_stats_histogram_fold_samples_as_update() -> None:
    lazy, eager = StatsHistogram(), StatsHistogram()
    for v in range(1, 101):
        lazy.add(v)
        eager.update(v)
    out_lazy: dict[str, float] = {}
    out_eager: dict[str, float] = {}
    lazy.snapshot("x", out_lazy)  # the snapshot folds first
    eager.snapshot("x", out_eager)
    assert out_lazy == out_eager
    for v in range(5000):
        lazy.add(v)
    lazy.fold()
    assert lazy.count == 5100 and len(lazy.values) == 1028 and lazy.pending == []
    assert set(lazy.values) <= set(range(5000)) | set(range(1, 101))
    lazy.add(7)
    stats = StatsRegistry()
    stats.histograms["krakend.h"] = lazy
    stats.tick()  # the window ends: queued values go with it
    assert lazy.count == 0 and lazy.pending == [] and lazy.values == []


def test_stats_histogram_fold_keeps_a_uniform_sample() -> None:
    import random

    random.seed(11)  # the reservoir's draws: a fixed sequence, so the bounds below cannot flake
    h = StatsHistogram()
    for start in range(0, 20_000, 700):  # batches as the edge's folds and the snapshots leave them
        for v in range(start, min(start + 700, 20_000)):
            h.add(v)
        h.fold()
    assert h.count == 20_000 and len(set(h.values)) == len(h.values) == 1028
    per_tenth = [sum(1 for v in h.values if v // 2_000 == d) for d in range(10)]
    assert all(70 < n < 140 for n in per_tenth), per_tenth  # ~103 each: late values as likely as early ones


def test_histogram_fold_counts_as_observe_when_the_values_stop_early() -> None:
    """The fold stops at the first bound above every value (a P1 duration is under the first); values
    on a bound, between bounds, above all and zeros counted as ``observe`` counts them."""
    cases = [
        [0.001 * i for i in range(40)],  # all in the first bucket
        [0.01, 0.02, 0.05] * 10,  # on the bounds: each its own bucket (values <= bound)
        [0.003, 0.12, 0.3, 0.31, 0.9] * 6,  # a few buckets, the last ones empty
        [11.0, 0.0, 5.0, 10.0] * 8,  # above every bound: the last bucket
        [0.01, 0.0, 0.004] * 10,  # up to the first bound (le is inclusive), none above: its bucket alone
        [0.004] * 29 + [0.0100001],  # one value just above the first bound: the sort, two buckets
    ]
    for values in cases:
        lazy, eager = Histogram("", TIME_BUCKETS), Histogram("", TIME_BUCKETS)
        lazy.pending.extend(values)
        lazy.zeros(3)
        for value in [*values, 0.0, 0.0, 0.0]:
            eager.observe(value)
        lazy.fold()
        assert (lazy.buckets, lazy.count, lazy.sum) == (eager.buckets, eager.count, eager.sum), values
