"""Pushed metrics with ``krakenpy run -w N``, with the real CLI, a real aiohttp backend and real
receivers on 127.0.0.1: every worker pushes its own cumulative series, told apart by OTel's
``service.instance.id`` (OTLP, decoded with the real opentelemetry-proto schema) and by the Influx
``worker`` tag, so the receiver can sum them to the requests sent. ``-w 1`` pushes what it pushed
before, plus the instance id."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from krakenpy.telemetry.instance import env_resource, instance_id
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.components.telemetry.test_workers_metrics import Backend
from tests.conftest import free_port
from tests.server.process import Gateway, write_json
from tests.threaded_app import Served

ROUTE = "/x"


@pytest.fixture
def backend() -> Iterator[Backend]:
    with Backend() as started:
        yield started


def _send(port: int, n: int) -> None:
    """``n`` requests, each on a connection of its own (urllib closes it): spread over the workers."""
    for _ in range(n):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{ROUTE}", timeout=10) as resp:
            assert resp.status == 200


def _config(port: int, backend: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 3,
        "port": port,
        "name": "gw",
        "extra_config": extra,
        "endpoints": [{"endpoint": ROUTE, "backend": [{"host": [f"http://127.0.0.1:{backend}"], "url_pattern": "/"}]}],
    }


def _otel(receiver: int) -> dict[str, Any]:
    otlp = {"name": "local", "host": "http://127.0.0.1", "port": receiver, "use_http": True}
    return {
        "telemetry/opentelemetry": {"service_name": "gw", "metric_reporting_period": 1, "exporters": {"otlp": [otlp]}}
    }


def _latest_counts(receiver: Receiver) -> dict[str, int]:
    """service.instance.id → the latest cumulative ``http.server.duration`` count for the route."""
    latest: dict[str, int] = {}
    for export in list(receiver.metrics):
        for rm in export.get("resourceMetrics", []):
            instance = attrs(rm["resource"]).get("service.instance.id", "")
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    if metric["name"] != "http.server.duration":
                        continue
                    points = metric["histogram"]["dataPoints"]
                    latest[instance] = sum(int(p.get("count", 0)) for p in points if attrs(p)["http.route"] == ROUTE)
    return latest


def _wait(check: Callable[[], bool], seen: Callable[[], object], timeout: float = 20.0) -> None:
    """Pushes come every second: wait for what ``check`` wants; if it never comes, say what was seen."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not pushed in time; last seen: {seen()!r}"
        time.sleep(0.2)


def test_two_workers_push_otlp_under_their_own_instance_ids(tmp_path: Path, backend: Backend) -> None:
    receiver = Receiver()
    with Served(receiver.app) as collector:
        port = free_port()
        config = write_json(tmp_path / "krakend.json", _config(port, backend.port, _otel(collector.port)))
        gateway = Gateway(config, "-w", "2", cwd=tmp_path)
        try:
            gateway.worker_pids(2)
            sent = 60
            _send(port, sent)
            # each worker's cumulative count under its own id; together, every request sent
            _wait(lambda: sum(_latest_counts(receiver).values()) == sent, lambda: _latest_counts(receiver))
            counts = _latest_counts(receiver)
            assert len(counts) == 2 and all(counts.values()), counts  # both workers served and pushed
            for instance in counts:
                assert uuid.UUID(instance).version == 4
            # the spans carry the same resource attribute, one id per worker
            _wait(lambda: len(_span_instances(receiver)) == 2, lambda: _span_instances(receiver))
            assert _span_instances(receiver) == set(counts)
            assert gateway.stop() == 0
        finally:
            gateway.kill()


def _span_instances(receiver: Receiver) -> set[str]:
    return {
        attrs(rs["resource"])["service.instance.id"]
        for export in list(receiver.traces)
        for rs in export.get("resourceSpans", [])
    }


def test_one_worker_pushes_its_resource_plus_the_operators_instance_id(tmp_path: Path, backend: Backend) -> None:
    receiver = Receiver()
    with Served(receiver.app) as collector:
        port = free_port()
        config = write_json(tmp_path / "krakend.json", _config(port, backend.port, _otel(collector.port)))
        env = {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=gw%2Da,team=edge"}
        gateway = Gateway(config, "-w", "1", cwd=tmp_path, env=env)
        try:
            gateway.worker_pids(1)
            _send(port, 5)
            _wait(lambda: _latest_counts(receiver) == {"gw-a": 5}, lambda: _latest_counts(receiver))
            resource = attrs(receiver.metrics[-1]["resourceMetrics"][0]["resource"])
            # what -w 1 pushed before, and the operator's attributes (percent-decoded), the instance id too
            assert set(resource) == {
                "service.name",
                "service.version",
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version",
                "service.instance.id",
                "team",
            }
            assert resource["service.name"] == "gw" and resource["service.instance.id"] == "gw-a"
            assert gateway.stop() == 0
        finally:
            gateway.kill()


class InfluxWrites:
    """An InfluxDB v1 ``/write`` endpoint keeping the line-protocol lines it got."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def app(self) -> web.Application:
        async def write(request: web.Request) -> web.Response:
            self.lines.extend((await request.text()).splitlines())
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/write", write)
        return app

    def responses(self) -> dict[str, int]:
        """``worker`` tag (``""`` when absent) → the latest ``responses`` count for the route."""
        latest: dict[str, int] = {}
        for text in list(self.lines):
            if not text.startswith("responses,") or f",name={ROUTE}," not in text:
                continue
            worker = re.search(r",worker=(\w+)", text)
            count = re.search(r",total=(\d+)i ", text)
            assert count is not None, text
            latest[worker[1] if worker else ""] = int(count[1])
        return latest


def _influx(writes: int) -> dict[str, Any]:
    return {
        "telemetry/metrics": {"listen_address": f"127.0.0.1:{free_port()}", "collection_time": "60s"},
        "telemetry/influx": {"address": f"http://127.0.0.1:{writes}", "ttl": "1s", "db": "gw"},
    }


def test_two_workers_push_influx_points_tagged_with_their_worker(tmp_path: Path, backend: Backend) -> None:
    writes = InfluxWrites()
    with Served(writes.app) as influx:
        port = free_port()
        config = write_json(tmp_path / "krakend.json", _config(port, backend.port, _influx(influx.port)))
        gateway = Gateway(config, "-w", "2", cwd=tmp_path)
        try:
            gateway.worker_pids(2)
            sent = 60
            _send(port, sent)
            _wait(lambda: sum(writes.responses().values()) == sent, writes.responses)
            counts = writes.responses()
            assert set(counts) == {"1", "2"} and all(counts.values()), counts
            # KrakenD's host tag is kept on every point beside the worker's
            assert all(",host=" in text for text in writes.lines if text.startswith("responses,"))
            assert gateway.stop() == 0
        finally:
            gateway.kill()


def test_one_worker_pushes_influx_points_without_a_worker_tag(tmp_path: Path, backend: Backend) -> None:
    writes = InfluxWrites()
    with Served(writes.app) as influx:
        port = free_port()
        config = write_json(tmp_path / "krakend.json", _config(port, backend.port, _influx(influx.port)))
        gateway = Gateway(config, "-w", "1", cwd=tmp_path)
        try:
            gateway.worker_pids(1)
            _send(port, 5)
            _wait(lambda: writes.responses() == {"": 5}, writes.responses)  # KrakenD's tags only, as before
            assert gateway.stop() == 0
        finally:
            gateway.kill()


def test_instance_id_is_the_operators_or_one_per_process() -> None:
    assert instance_id({"OTEL_RESOURCE_ATTRIBUTES": "a=1, service.instance.id = pod%2C7 ,"}) == "pod,7"
    mine = instance_id({})
    # a malformed entry: the whole variable ignored (the specification), its instance id too
    assert instance_id({"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod,bad"}) == mine
    assert instance_id({"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id="}) == mine  # empty: not set
    assert uuid.UUID(mine).version == 4 and instance_id({}) == mine  # made once in this process
    assert env_resource({"OTEL_RESOURCE_ATTRIBUTES": "k=v%20w,e="}) == {"k": "v w"}
    assert env_resource({"OTEL_RESOURCE_ATTRIBUTES": "k=v%20w,=x,novalue"}) == {}
