"""backend/grpc failures: gRPC statuses, a server that is down, deadlines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.grpc.conftest import grpc_backend, grpc_config


def _doc(host: str, pb: Path, *, timeout: str = "3s", **backend: Any) -> dict[str, Any]:
    endpoint = {
        "endpoint": "/flights",
        "input_headers": ["X-Behave"],
        "timeout": timeout,
        "backend": [grpc_backend(host, **backend)],
    }
    return grpc_config([str(pb)], [endpoint])


@pytest.mark.parametrize(
    ("code", "status"),
    [("NOT_FOUND", 404), ("UNAVAILABLE", 503), ("DEADLINE_EXCEEDED", 504), ("PERMISSION_DENIED", 403)],
)
async def test_grpc_backend_status_with_return_error_code(gateway, flights_server, flights_pb, code, status) -> None:
    doc = _doc(flights_server.target, flights_pb, extra_config={"backend/http": {"return_error_code": True}})
    doc["extra_config"]["router"] = {"return_error_msg": True}  # the body too, not only the status
    client = await gateway(doc)
    resp = await client.get("/flights", headers={"X-Behave": f"fail:{code}"})
    assert resp.status == status
    body = await resp.json()
    assert body["status"] == code and body["message"] == f"told to fail with {code}"


async def test_grpc_backend_status_is_500_by_default(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_doc(flights_server.target, flights_pb))
    resp = await client.get("/flights", headers={"X-Behave": "fail:NOT_FOUND"})
    assert resp.status == 500
    assert "told to fail" not in await resp.text()  # no backend detail without return_error_msg


async def test_grpc_backend_status_as_error_details(gateway, flights_server, flights_pb) -> None:
    doc = _doc(flights_server.target, flights_pb, extra_config={"backend/http": {"return_error_details": "fl"}})
    client = await gateway(doc)
    resp = await client.get("/flights", headers={"X-Behave": "fail:ALREADY_EXISTS"})
    detail = (await resp.json())["error_fl"]
    assert detail["http_status_code"] == 409
    assert '"code":6' in detail["http_body"]
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_grpc_backend_server_down_is_unavailable(gateway, flights_pb, dead_port) -> None:
    doc = _doc(f"127.0.0.1:{dead_port}", flights_pb, extra_config={"backend/http": {"return_error_code": True}})
    client = await gateway(doc)
    resp = await client.get("/flights")
    assert resp.status == 503


async def test_grpc_backend_deadline_is_the_endpoint_timeout(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_doc(flights_server.target, flights_pb, timeout="400ms"))
    started = time.monotonic()
    resp = await client.get("/flights", headers={"X-Behave": "sleep:3"})
    elapsed = time.monotonic() - started
    assert resp.status == 500
    assert elapsed < 2.5  # the call was ended at the deadline, not after the server's 3 s
    left = flights_server.time_left[0]
    # the server was told the deadline (grpc-timeout): gRPC's core rounds the header's value up and
    # reads its clocks coarsely (a CI run saw 0.4005 s left), so "about 400 ms", not the default's 10 s
    assert left is not None and 0 < left <= 0.45


async def test_grpc_backend_no_op_error_keeps_status(gateway, flights_server, flights_pb) -> None:
    doc = _doc(flights_server.target, flights_pb, encoding="no-op")
    doc["endpoints"][0]["output_encoding"] = "no-op"
    client = await gateway(doc)
    resp = await client.get("/flights", headers={"X-Behave": "fail:UNAUTHENTICATED"})
    assert resp.status == 401
    assert (await resp.json())["code"] == 16
