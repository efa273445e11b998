"""A traced request to a Lambda backend, on the real emulator: the trace context the function gets.

The emulator runs the function but hands it no ``context.client_context`` (ministack sets it to
None), so a recording hop in front of it keeps what the gateway sent, ``X-Amz-Client-Context``
included, and passes every invocation on; the function's answer shows the API Gateway event's
headers as the function got them.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from tests.components.telemetry.conftest import served, upstream
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.lambda_.conftest import lambda_backend, lambda_config

__all__ = ["served", "upstream"]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
#: hop-by-hop and transport headers the recording hop does not pass on
_NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _recording_hop(emulator: str, seen: list[dict[str, str]]) -> web.Application:
    """The Lambda Invoke API in front of the emulator: records each call's headers, forwards it."""

    async def invoke(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{emulator}{request.rel_url}", data=await request.read(), headers=headers) as resp:
                body = await resp.read()
                kept = {k: v for k, v in resp.headers.items() if k.lower() not in _NOT_FORWARDED}
                return web.Response(status=resp.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    return app


@pytest.mark.lambda_emulator
async def test_a_traced_lambda_call_carries_the_client_span_as_parent(served, upstream, lambda_endpoint) -> None:  # type: ignore[no-untyped-def]
    """An incoming ``traceparent`` continues through the Lambda backend: the ClientContext's
    ``custom.traceparent`` and the API Gateway event's ``traceparent`` header (what the function
    read) both name the trace and the CLIENT span of the invocation, sampled; the span says it is
    a Lambda call of that function, and the function's answer is the gateway's."""
    seen: list[dict[str, str]] = []
    hop = await upstream(_recording_hop(lambda_endpoint, seen))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    otlp = [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]
    backend = lambda_backend(hop, function_name="apigw", payload="apigw_v2", proxy_integration=True)
    s = await served(
        lambda_config(
            [{"endpoint": "/fn", "method": "POST", "backend": [backend]}],
            extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": otlp}}},
        )
    )
    resp = await s.client.post("/fn", json={"a": 1}, headers={"traceparent": TRACEPARENT, "X-Request-Id": "lam-1"})
    answer: dict[str, Any] = await resp.json()
    assert resp.status == 200, answer
    await s.gateway.resources.state[EXPORTER].flush()
    client = [sp for sp in receiver.spans() if sp["kind"] == "SPAN_KIND_CLIENT"]
    assert len(client) == 1 and client[0]["traceId"] == TRACE_ID
    expected = f"00-{TRACE_ID}-{client[0]['spanId']}-01"
    assert len(seen) == 1
    context = orjson.loads(base64.b64decode(seen[0]["X-Amz-Client-Context"]))
    assert context["custom"]["traceparent"] == expected and context["custom"]["x-request-id"] == "lam-1"
    event_headers = {k.lower(): v for k, v in answer["seen"]["headers"].items()}  # as the function read them
    assert event_headers["traceparent"] == expected
    a = attrs(client[0])
    assert a["rpc.system"] == "aws-api" and a["rpc.service"] == "Lambda" and a["faas.invoked_name"] == "apigw"
