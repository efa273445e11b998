"""The metrics configuration's edge layer (``edge_metered``) records what the general edge handler
records: the same requests through both give the same series, counts and returned request ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.layers.edge_metered import metered_handler
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import free_port


def _series(hub: Any) -> dict[str, Any]:
    """Every OTel series' labels and count, and the /__stats counters and window counts (no timings)."""
    hub.fold_metrics()  # the values the requests queued, counted
    out: dict[str, Any] = {}
    for family in hub.registry.families():
        if family.kind == "counter" and family.unit == "s":
            continue  # a time sum (read_payload's http.client.response.read.time)
        for labels, series in family.items():
            out[f"{family.name}{labels}"] = getattr(series, "count", None) or getattr(series, "value", None)
    out.update(hub.stats.counters)
    out.update({f"{k}.count": h.count for k, h in hub.stats.histograms.items()})
    out.update({f"{k}.sizes": sorted(h.values) for k, h in hub.stats.histograms.items() if k.endswith(".size")})
    return out


async def test_edge_metered_same_series_as_the_general_handler(served, upstream, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    metrics = {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
        "telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}
        },
    }
    endpoints = [{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}]
    lean = await served(doc(endpoints, extra_config=metrics))
    # an audit trail makes the edge use the general handler; its one metric of its own is the count of
    # the records it lost
    audit = {"sink": "file", "path": str(tmp_path / "audit.log")}
    general = await served(doc(endpoints, extra_config={**metrics, "telemetry/audit": audit}))
    hubs = [s.gateway.resources.state[HUB] for s in (lean, general)]
    assert metered_handler(hubs[0], lambda request: None) is not None  # type: ignore[arg-type,return-value]
    assert metered_handler(hubs[1], lambda request: None) is None  # type: ignore[arg-type,return-value]
    returned: list[list[str]] = []
    for s in (lean, general):
        ids = []
        for path, rid in (("/users/1", "given-1"), ("/users/2", ""), ("/users/1", "given-3"), ("/nowhere", "x")):
            headers = {"X-Request-Id": rid} if rid else {}
            resp = await s.client.get(path, headers=headers)
            ids.append(resp.headers["X-Request-Id"] if rid else str(len(resp.headers["X-Request-Id"])))
        returned.append(ids)
    assert returned[0] == returned[1] == ["given-1", "36", "given-3", "x"]
    audited = _series(hubs[1])
    assert audited.pop("krakenpy.audit.records.dropped()") == 0
    assert _series(hubs[0]) == audited
    assert any("/users/:id" in k for k in _series(hubs[0]))


async def test_edge_metered_folds_queued_values_every_n_requests(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from krakenpy.telemetry.layers import edge, edge_metered

    monkeypatch.setattr(edge_metered, "FOLD_EVERY", 3)
    monkeypatch.setattr(edge, "FOLD_EVERY", 3)
    base = await upstream(recording_app([], {"a": 1}))
    metrics = {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
        "telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}
        },
    }
    endpoints = [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/u"}]}]
    s = await served(doc(endpoints, extra_config=metrics))
    hub = s.gateway.resources.state[HUB]
    for _ in range(7):
        await s.client.get("/a")
    # folded after the 3rd and the 6th request: the 7th request's row waits in its slot (the
    # families read without a feed; series of other outcomes stay empty), the six before counted
    server, proxy, backend = hub.server_metrics, hub.proxy_metrics, hub.backend_metrics
    families = [server.time, server.size, proxy.family, backend.family, hub.client_metrics.duration]
    counted = [(len(h.pending), h.count) for family in families for _, h in family.items()]
    assert (0, 6) in counted and all((q, c) in ((0, 6), (0, 0)) for q, c in counted)
    # a read counts the waiting rows (its feed drains the slots into the OTel histograms)
    histograms = [family for family in hub.registry.families() if family.kind == "histogram"]
    counted = [(len(h.pending), h.count) for family in histograms for _, h in family.items()]
    assert (0, 7) in counted and all((q, c) in ((0, 7), (0, 0)) for q, c in counted)
    stats = [(len(h.pending), h.count) for h in hub.stats.histograms.values()]
    assert (1, 6) in stats and all((q, c) in ((1, 6), (0, 0)) for q, c in stats)


async def test_metrics_with_proxy_and_backend_spans_under_a_disabled_global_layer(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Metrics and traces whose global (SERVER) span is off: the proxy, backend and CLIENT spans still
    get eight-byte ids under the request's head, and the traceparent the backend receives names the
    exported CLIENT span (the metered edge took these requests and never made the head: 2-byte ids,
    a malformed traceparent, every span dropped by the protobuf writer)."""
    receiver = Receiver()
    rport = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    otel = {
        "exporters": {
            "otlp": [
                {"name": "l", "host": "http://127.0.0.1", "port": rport, "use_http": True, "disable_metrics": True}
            ],
            "prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}],
        },
        "layers": {"global": {"disable_traces": True}},
    }
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
                         extra_config={"telemetry/opentelemetry": otel}))  # fmt: skip
    trace = "0af7651916cd43dd8448eb211c80319c"
    assert (await s.client.get("/a", headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"})).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    version, sent_trace, sent_span, flags = seen[0].headers["traceparent"].split("-")
    assert (version, sent_trace, flags) == ("00", trace, "01") and len(sent_span) == 16
    spans = receiver.spans()
    assert {sp["kind"] for sp in spans} >= {"SPAN_KIND_CLIENT"} and "SPAN_KIND_SERVER" not in {
        sp["kind"] for sp in spans
    }
    client = [sp for sp in spans if sp["kind"] == "SPAN_KIND_CLIENT"]
    assert client[0]["spanId"] == sent_span and all(len(sp["spanId"]) == 16 for sp in spans)
