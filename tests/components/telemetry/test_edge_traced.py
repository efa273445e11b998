"""The traces configuration's edge layer (``edge_traced``) records what the general edge handler
records: the same requests through both give the same spans at a real OTLP receiver (names, kinds,
attributes, parents, status), the same ``traceparent`` at the backend and the same request ids."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.layers import edge
from krakenpy.telemetry.layers.edge_traced import traced_handler
from tests.components.telemetry.conftest import Served, doc
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.components.telemetry.test_opentelemetry import TRACEPARENT, _otel

_TRACE = TRACEPARENT.split("-")[1]
_PORT = re.compile(r":\d+")
#: (path, headers) of the requests both handlers serve: a sampled caller with a secret in the query,
#: an unsampled caller (a rate under 1 keeps the caller's flag), a new trace (unsampled: the rate is
#: 1e-9), a 500 from the backend, an unknown route and a skipped path
_REQUESTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/users/1?access_token=secret&x=1", {"traceparent": TRACEPARENT, "X-Request-Id": "given-1", "User-Agent": "ua/1"}),
    ("/users/2", {"traceparent": f"00-{_TRACE}-b7ad6b7169203331-00", "tracestate": "k=v", "baggage": "b=1"}),
    ("/users/3?x=1", {}),
    ("/boom", {"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}),
    ("/nowhere", {"traceparent": f"00-{'3' * 32}-{'4' * 16}-01"}),
    ("/__health", {"traceparent": f"00-{'5' * 32}-{'6' * 16}-01"}),
)


def _backend(seen: list[dict[str, str]]) -> web.Application:
    async def user(request: web.Request) -> web.Response:
        seen.append({k: request.headers.get(k, "") for k in ("traceparent", "tracestate", "baggage", "X-Request-Id")})
        return web.json_response({"id": request.match_info["id"]})

    async def boom(request: web.Request) -> web.Response:
        seen.append({"traceparent": request.headers.get("traceparent", "")})
        return web.json_response({"e": 1}, status=500)

    app = web.Application()
    app.router.add_get("/u/{id}", user)
    app.router.add_get("/boom", boom)
    return app


def _shape(span: dict[str, Any], ids: dict[str, str]) -> tuple[Any, ...]:
    """A span without its times and with its generated ids numbered in order of appearance."""

    def name(value: str | None) -> str | None:
        if value is None or value in (_TRACE, "1" * 32, "2" * 16, "b7ad6b7169203331"):
            return value
        return ids.setdefault(value, f"#{len(ids)}")

    a = attrs(span)
    a.pop("http.request.id", None)  # a new id per request (its presence is compared below)
    a.pop("server.port", None)
    # each run has its own gateway and backend ports; durations are timings (their type compared)
    values = sorted(
        (k, _PORT.sub(":port", v) if isinstance(v, str) else type(v).__name__ if isinstance(v, float) else v)
        for k, v in a.items()
    )
    status = {k: _PORT.sub(":port", v) for k, v in span.get("status", {}).items()}
    return (name(span["traceId"]), name(span["spanId"]), name(span.get("parentSpanId")), span["name"],
            span["kind"], values, status)  # fmt: skip


async def _run(s: Served, receiver: Receiver, seen: list[dict[str, str]]) -> tuple[list[Any], list[str]]:
    returned = []
    for path, headers in _REQUESTS:
        resp = await s.client.get(path, headers=headers)
        await resp.read()
        returned.append(resp.headers.get("X-Request-Id", "-") if "X-Request-Id" in headers else str(resp.status))
    for _ in range(50):  # the export loop may hold a batch in flight when a flush finds nothing left
        await s.gateway.resources.state[EXPORTER].flush()
        if len(receiver.spans()) >= 11:
            break
        await asyncio.sleep(0.1)
    spans = sorted(receiver.spans(), key=lambda x: (int(x["startTimeUnixNano"]), x["kind"]))
    ids: dict[str, str] = {}
    return [_shape(x, ids) for x in spans], returned


async def test_edge_traced_same_spans_and_headers_as_the_general_handler(  # type: ignore[no-untyped-def]
    served, upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = traced_handler
    results = []
    for general in (False, True):
        built: list[bool] = []

        def spy(hub: Any, next_handler: Any, general: bool = general, built: list[bool] = built) -> Any:
            handler = None if general else real(hub, next_handler)
            built.append(handler is not None)
            return handler

        monkeypatch.setattr(edge, "traced_handler", spy)
        receiver = Receiver()
        rb = await upstream(receiver.app())
        seen: list[dict[str, str]] = []
        base = await upstream(_backend(seen))
        endpoints = [
            {"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]},
            {"endpoint": "/boom", "backend": [{"host": [base], "url_pattern": "/boom"}]},
        ]
        otel = _otel(int(rb.rsplit(":", 1)[1]), trace_sample_rate=1e-9)
        # the second time the general handler: what served traces before edge_traced
        s = await served(doc(endpoints, extra_config={"telemetry/opentelemetry": otel}))
        assert built and all(b is not general for b in built)
        spans, returned = await _run(s, receiver, seen)
        # the unsampled caller's trace goes on unsampled, with its id, state and baggage
        unsampled = [
            h for h in seen if h["traceparent"].startswith(f"00-{_TRACE}-") and h["traceparent"].endswith("-00")
        ]
        assert len(unsampled) == 1
        assert unsampled[0]["tracestate"] == "k=v" and unsampled[0]["baggage"] == "b=1"
        # the new trace: an id of its own, unsampled, sent on
        new = seen[2]["traceparent"]
        assert len(new) == 55 and new.endswith("-00") and new[3:35] not in (_TRACE, "0" * 32), seen
        results.append((spans, returned, [_hop(h) for h in seen]))
    assert results[0] == results[1]
    spans, returned, hops = results[0]
    assert returned == ["given-1", "200", "200", "500", "404", "200"]
    assert hops == [f"00-{_TRACE}-01", f"00-{_TRACE}-00", "00-new-00", f"00-{'1' * 32}-01"]
    # the sampled requests' SERVER spans (/users/1, /boom, /nowhere), none for /__health
    servers = [x for x in spans if x[4] == "SPAN_KIND_SERVER"]
    assert [x[3] for x in servers] == ["GET /users/:id", "GET /boom", "GET 404 Not Found"]
    assert servers[1][6]["code"] == "STATUS_CODE_ERROR"
    assert ("url.full", "/users/1?access_token=[REDACTED]&x=1") in servers[0][5], str(servers[0][5])
    # SERVER, proxy, backend, CLIENT and body read of /users/1 and /boom; the SERVER span of /nowhere
    assert [x[4] for x in spans].count("SPAN_KIND_INTERNAL") == 6 and len(spans) == 11


def _hop(headers: dict[str, str]) -> str:
    """A backend's ``traceparent`` without its (per-hop) span id; a new trace's id as ``new``."""
    value = headers["traceparent"]
    trace = value[3:35]
    return f"{value[:3]}{trace if trace in (_TRACE, '1' * 32) else 'new'}-{value[53:]}"


async def test_edge_traced_is_the_handler_of_a_traces_configuration(served, upstream) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    rb = await upstream(receiver.app())
    s = await served(doc([], extra_config={"telemetry/opentelemetry": _otel(int(rb.rsplit(":", 1)[1]))}))
    assert traced_handler(s.gateway.resources.state[HUB], lambda request: None) is not None  # type: ignore[arg-type,return-value]
    # header attributes keep the general handler (their keys vary per request)
    otel = _otel(int(rb.rsplit(":", 1)[1]), layers={"global": {"report_headers": True}})
    s = await served(doc([], extra_config={"telemetry/opentelemetry": otel}))
    assert traced_handler(s.gateway.resources.state[HUB], lambda request: None) is None  # type: ignore[arg-type,return-value]
