"""``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` (otel-go's OTLP metric exporters, KrakenD's,
read it; Dynatrace, for one, takes deltas only): a real gateway pushing its metrics every second to
the OTLP receiver on 127.0.0.1, and the real ``check`` naming a value it cannot use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.server.process import write_json

NAME = "http.server.duration"


#: the enum as decoded from JSON (a number) or protobuf (its name)
TEMPORALITY = {1: "delta", 2: "cumulative", "AGGREGATION_TEMPORALITY_DELTA": "delta",
               "AGGREGATION_TEMPORALITY_CUMULATIVE": "cumulative"}  # fmt: skip


def _server_points(export: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """(temporality, data points) of the server duration histogram in one export."""
    for rm in export["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for metric in sm["metrics"]:
                if metric["name"] == NAME:
                    histogram = metric["histogram"]
                    return TEMPORALITY.get(histogram.get("aggregationTemporality")), histogram["dataPoints"]
    return None, []


async def _until(check: Any, what: Any) -> None:
    for _ in range(200):  # one push a second
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what())


async def _gateway(served: Any, upstream: Any) -> tuple[Any, Receiver]:
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    base = await upstream(recording_app([]))
    exporter = {
        "name": "m",
        "host": "http://127.0.0.1",
        "port": receiver_port,
        "use_http": True,
        "disable_traces": True,
    }
    otel = {"metric_reporting_period": 1, "exporters": {"otlp": [exporter]}}
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": otel})
    )  # fmt: skip
    return s, receiver


async def _send(s: Any, n: int) -> None:
    for _ in range(n):
        assert (await s.client.get("/a")).status == 200


def _count(export: dict[str, Any]) -> int:
    return sum(int(p["count"]) for p in _server_points(export)[1])


@pytest.mark.parametrize("value", ["delta", " LowMemory "])
async def test_delta_preference_pushes_what_grew_since_the_last_export(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)
    s, receiver = await _gateway(served, upstream)

    def total() -> int:  # the deltas of every export so far add up to the requests sent
        return sum(_count(export) for export in list(receiver.metrics))

    await _send(s, 3)
    await _until(lambda: total() == 3, lambda: receiver.metrics)
    seen = len(receiver.metrics)
    assert {_server_points(e)[0] for e in receiver.metrics if _server_points(e)[1]} == {"delta"}
    # an export with nothing recorded since the one before has no server point at all
    await _until(lambda: len(receiver.metrics) > seen, lambda: "no export")
    assert _server_points(receiver.metrics[seen])[1] == []
    ended = max(int(p["timeUnixNano"]) for e in receiver.metrics[:seen] for p in _server_points(e)[1])
    await _send(s, 2)
    await _until(lambda: total() == 5, lambda: receiver.metrics)
    later = [p for e in receiver.metrics[seen:] for p in _server_points(e)[1]]
    assert later and all(int(p["startTimeUnixNano"]) >= ended for p in later)  # each starts where one ended


async def test_cumulative_is_the_default(served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", raising=False)
    s, receiver = await _gateway(served, upstream)
    await _send(s, 3)
    await _until(lambda: receiver.metrics and _count(receiver.metrics[-1]) == 3, lambda: receiver.metrics)
    await _send(s, 2)
    await _until(lambda: _count(receiver.metrics[-1]) == 5, lambda: receiver.metrics)
    assert _server_points(receiver.metrics[-1])[0] == "cumulative"


def test_check_names_a_temporality_it_cannot_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
    exporter = {"name": "m", "host": "http://127.0.0.1", "port": 4318, "use_http": True}
    config = write_json(
        tmp_path / "krakend.json",
        doc([], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}}),
    )
    done = check_config(config, env={"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "deltas"})
    out = done.stdout + done.stderr
    assert "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE='deltas' is not cumulative, delta or lowmemory" in out
    quiet = check_config(config, env={"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "Delta"})
    assert "TEMPORALITY" not in quiet.stdout + quiet.stderr
