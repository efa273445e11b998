"""Span records against a real OTLP receiver: values out of int64 left off, the SERVER span of a
client that went away, ``skip_paths`` on the CLIENT span; and the metrics of an abandoned request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.hub import HUB
from tests.components.telemetry.conftest import Served, doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.components.telemetry.test_opentelemetry import TRACEPARENT, _otel
from tests.conftest import free_port

_PARENT = TRACEPARENT.split("-")[2]


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("d", "0")))
    return web.json_response({"s": 1})


async def _raw(s: Served, head: bytes) -> None:
    """Send ``head`` on a connection of its own and read the answer (or the close)."""
    url = s.client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(head)
    await writer.drain()
    writer.write_eof()
    await asyncio.wait_for(reader.read(), 3)
    writer.close()


async def _hang_up(s: Served, path: str) -> None:
    """A client that sends a request and goes away before the answer."""
    url = s.client.make_url(path)
    _, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\ntraceparent: {TRACEPARENT}\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()


def _orphans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {x["spanId"] for x in spans} | {_PARENT}
    return [x for x in spans if x.get("parentSpanId") not in ids]


def _kinds(spans: list[dict[str, Any]]) -> list[str]:
    return sorted(x["kind"] for x in spans)


async def _exported(
    s: Served, receiver: Receiver, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The spans received once ``done`` holds for them (the export loop may hold a batch in flight
    when a flush finds nothing left: waited for, at most 5 s)."""
    for _ in range(50):
        await s.gateway.resources.state[EXPORTER].flush()
        if done(receiver.spans()):
            break
        await asyncio.sleep(0.1)
    return receiver.spans()


@pytest.mark.parametrize("report_headers", [False, True])
async def test_server_span_content_length_out_of_int64_left_off(served, upstream, report_headers: bool) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    rb = await upstream(receiver.app())
    base = await upstream(recording_app([], {"a": 1}))
    otel = _otel(int(rb.rsplit(":", 1)[1]), layers={"global": {"report_headers": report_headers}})
    s = await served(doc([{"endpoint": "/p", "method": "POST", "backend": [{"host": [base], "url_pattern": "/u"}]}],
                         extra_config={"telemetry/opentelemetry": otel}))  # fmt: skip
    huge = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\nConnection: close\r\n\r\n{}"
    await _raw(s, huge)
    assert (await s.client.post("/p", json={})).status == 200  # exported in the same batch
    spans = await _exported(s, receiver, lambda spans: _kinds(spans).count("SPAN_KIND_SERVER") == 2)
    servers = [attrs(x) for x in spans if x["kind"] == "SPAN_KIND_SERVER"]
    assert len(servers) == 2  # the receiver took the batch (an int64 overflow makes it refuse all)
    assert sorted(a.get("http.request.body.size", "-") for a in servers) == ["-", "2"]


async def _hung_up_trace(served: Any, upstream: Any) -> tuple[Served, list[dict[str, Any]]]:
    """The gateway and the four spans it exported for ``/one`` (one slow backend, traced) whose client
    hung up."""
    receiver = Receiver()
    rb = await upstream(receiver.app())
    app = web.Application()
    app.router.add_get("/slow", _slow)
    base = await upstream(app)
    s = await served(doc([{"endpoint": "/one", "backend": [{"host": [base], "url_pattern": "/slow?d=1"}]}],
                         extra_config={"telemetry/opentelemetry": _otel(int(rb.rsplit(":", 1)[1]))}))  # fmt: skip
    await _hang_up(s, "/one")
    return s, await _exported(s, receiver, lambda spans: len(spans) == 4 and not _orphans(spans))


async def test_server_span_client_gone_ends_the_trace(served, upstream) -> None:  # type: ignore[no-untyped-def]
    _, spans = await _hung_up_trace(served, upstream)
    assert not _orphans(spans), spans
    assert _kinds(spans) == ["SPAN_KIND_CLIENT", *["SPAN_KIND_INTERNAL"] * 2, "SPAN_KIND_SERVER"]
    server = [x for x in spans if x["kind"] == "SPAN_KIND_SERVER"]
    assert len(server) == 1 and server[0]["name"] == "GET /one"
    assert attrs(server[0])["http.response.status_code"] == "500"  # lura's answer to a canceled context
    assert server[0]["status"] == {"code": "STATUS_CODE_ERROR", "message": "context canceled"}


async def test_edge_metered_counts_a_request_whose_client_went_away(served, upstream) -> None:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_get("/slow", _slow)
    base = await upstream(app)
    metrics = {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
        "telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}
        },
    }
    s = await served(doc([{"endpoint": "/one", "backend": [{"host": [base], "url_pattern": "/slow?d=1"}]}],
                         extra_config=metrics))  # fmt: skip
    await _hang_up(s, "/one")
    hub = s.gateway.resources.state[HUB]

    def counted() -> list[int]:
        hub.fold_metrics()
        return [
            series.count
            for family in hub.registry.families()
            if family.name == "http.server.duration"
            for labels, series in family.items()
            if "500" in str(labels) and "/one" in str(labels)
        ]

    # the canceled request is recorded when its task ends: waited for up to 10 s (a fixed 0.3 s was
    # a bet on the loaded host's scheduling), then a count of exactly one is still required
    deadline = asyncio.get_running_loop().time() + 10
    while not counted() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert counted() == [1]


async def test_client_span_skip_paths(served, upstream) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    rb = await upstream(receiver.app())
    base = await upstream(recording_app([], {"a": 1}))
    otel = _otel(int(rb.rsplit(":", 1)[1]), skip_paths=["/users/:id"])
    s = await served(doc([{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
                         extra_config={"telemetry/opentelemetry": otel}))  # fmt: skip
    assert (await s.client.get("/users/5", headers={"traceparent": TRACEPARENT})).status == 200
    spans = await _exported(s, receiver, lambda spans: "SPAN_KIND_SERVER" in _kinds(spans))
    assert _kinds(spans) == ["SPAN_KIND_SERVER"]  # as the proxy, backend and body-read spans: none below the edge


def _counted(s: Served, name: str) -> int:
    """The value of counter ``name`` summed over its series."""
    hub = s.gateway.resources.state[HUB]
    hub.fold_metrics()
    assert hub.registry is not None
    total = 0
    for family in hub.registry.families():
        if family.name == name:
            total += sum(int(getattr(series, "value", 0)) for _, series in family.items())
    return total


@pytest.mark.parametrize("backends", [1, 2, 3])
async def test_client_span_cut_by_the_endpoint_deadline_ends_in_error(served, upstream, backends: int) -> None:  # type: ignore[no-untyped-def]
    """One backend (the handler's timer), a merge (the inline backend's timer, the others ended by the
    merge): each CLIENT span cut at the deadline ends with krakend-otel's error status, and is counted
    as timed out, not canceled."""
    receiver = Receiver()
    rb = await upstream(receiver.app())
    app = web.Application()
    app.router.add_get("/slow", _slow)
    base = await upstream(app)
    calls = [{"host": [base], "url_pattern": "/slow?d=3", "group": f"g{i}"} for i in range(backends)]
    s = await served(doc([{"endpoint": "/cut", "timeout": "300ms", "backend": calls}],
                         extra_config={"telemetry/opentelemetry": _otel(int(rb.rsplit(":", 1)[1]))}))  # fmt: skip
    resp = await s.client.get("/cut", headers={"traceparent": TRACEPARENT})
    assert resp.status in (500, 200)  # lura: a single backend's error; a merge answers what it has (none)
    spans = await _exported(s, receiver, lambda spans: _kinds(spans).count("SPAN_KIND_CLIENT") == backends)
    clients = [x for x in spans if x["kind"] == "SPAN_KIND_CLIENT"]
    assert len(clients) == backends
    for client in clients:
        assert client["status"] == {"code": "STATUS_CODE_ERROR", "message": "context deadline exceeded"}
    assert _counted(s, "http.client.request.timedout.count") == backends
    assert _counted(s, "http.client.request.canceled.count") == 0


async def test_client_span_of_a_client_gone_ends_canceled(served, upstream) -> None:  # type: ignore[no-untyped-def]
    s, spans = await _hung_up_trace(served, upstream)
    clients = [x for x in spans if x["kind"] == "SPAN_KIND_CLIENT"]
    assert len(clients) == 1
    assert clients[0]["status"] == {"code": "STATUS_CODE_ERROR", "message": "context canceled"}
    assert _counted(s, "http.client.request.canceled.count") == 1
    assert _counted(s, "http.client.request.timedout.count") == 0


async def test_client_span_url_redacted_per_call_as_the_url_changes(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """The CLIENT span's ``url.full`` is the call's own URL redacted, whether the last call's URL was
    the same (its redacted text kept) or another (written again): a kept text shown for another URL
    would name the wrong path, and an unredacted one would leak the token."""
    receiver = Receiver()
    rb = await upstream(receiver.app())
    base = await upstream(recording_app([], {"a": 1}))
    otel = _otel(int(rb.rsplit(":", 1)[1]))
    backend = {"host": [base], "url_pattern": "/u/{id}?token={id}"}
    s = await served(
        doc([{"endpoint": "/users/{id}", "backend": [backend]}], extra_config={"telemetry/opentelemetry": otel})
    )
    for user in ("5", "6", "6", "5"):
        assert (await s.client.get(f"/users/{user}")).status == 200
    spans = await _exported(s, receiver, lambda spans: _kinds(spans).count("SPAN_KIND_CLIENT") == 4)
    clients = sorted(spans, key=lambda x: int(x["startTimeUnixNano"]))
    urls = [attrs(x)["url.full"] for x in clients if x["kind"] == "SPAN_KIND_CLIENT"]
    assert [url.split("?")[0].rsplit("/", 1)[1] for url in urls] == ["5", "6", "6", "5"]
    assert all("token=" in url and "token=5" not in url and "token=6" not in url for url in urls), urls
