"""backend/grpc end to end against answers no well-behaved service sends, statuses grpcio makes
itself, and option values past grpcio's C ints: errors with the right status, never a traceback."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tests.grpc.conftest import grpc_config

ECHO = "/probe.Probe/Echo"


@pytest.fixture
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The test's requests log no exception (an unexpected error is logged with its traceback)."""
    yield
    assert not [record.getMessage() for record in caplog.records if record.exc_info]


@pytest.fixture(scope="module")
def sample(probe_pb: Path) -> Any:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(probe_pb.read_bytes()).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.Sample"))


def _doc(
    host: str, pb: Path, *, noop: bool = False, errors: bool = False, timeout: str = "3s", **grpc: Any
) -> dict[str, Any]:
    """``errors``: the backend's status and the error text reach the client (return_error_code/msg)."""
    backend: dict[str, Any] = {
        "host": [host],
        "url_pattern": ECHO,
        "extra_config": {"backend/grpc": {"use_request_body": True, **grpc}},
    }
    if errors:
        backend["extra_config"]["backend/http"] = {"return_error_code": True}
    endpoint: dict[str, Any] = {
        "endpoint": "/echo",
        "method": "POST",
        "input_headers": ["X-Answer", "X-Status", "X-Behave"],
        "timeout": timeout,
        "backend": [backend],
    }
    if noop:
        endpoint["output_encoding"] = backend["encoding"] = "no-op"
    doc = grpc_config([str(pb)], [endpoint])
    if errors:
        doc["extra_config"]["router"] = {"return_error_msg": True}
    return doc


async def test_grpc_answer_json_value_of_the_wrong_type_is_400(gateway, probe_server, probe_pb, no_traceback) -> None:
    client = await gateway(_doc(probe_server, probe_pb, errors=True))
    for body in ('{"attributes": 5}', '{"items": {"a": 1}}'):
        assert (await client.post("/echo", data=body)).status == 400
    resp = await client.post("/echo", data='{"attributes": {"a": [1, null]}}')
    assert resp.status == 200 and (await resp.json())["attributes"] == {"a": [1, None]}


@pytest.mark.parametrize("answer", ["ffffff", "0a05", "3a02fffe"])  # garbage, truncated, bad UTF-8 in Node.name
async def test_grpc_answer_undecodable_is_500_without_traceback(
    gateway, probe_server, probe_pb, no_traceback, answer
) -> None:
    client = await gateway(_doc(probe_server, probe_pb, errors=True))
    resp = await client.post("/echo", data="{}", headers={"X-Answer": answer})
    assert resp.status == 500
    assert "the answer is not a valid probe.Sample" in await resp.text()


@pytest.mark.parametrize("special", [math.nan, math.inf])
async def test_grpc_answer_nan_in_a_value_is_500_without_traceback(
    gateway, probe_server, probe_pb, sample, no_traceback, special
) -> None:
    answer = sample()
    answer.attributes["x"] = special
    client = await gateway(_doc(probe_server, probe_pb, errors=True))
    resp = await client.post("/echo", data="{}", headers={"X-Answer": answer.SerializeToString().hex()})
    assert resp.status == 500
    assert "the answer is not a valid probe.Sample" in await resp.text()
    finite = sample(total=1.5)
    finite.value.number_value = 2.5
    resp = await client.post("/echo", data="{}", headers={"X-Answer": finite.SerializeToString().hex()})
    assert resp.status == 200 and (await resp.json())["value"] == 2.5


async def test_grpc_answer_options_past_c_ints_are_taken_as_no_limit(
    gateway, probe_server, probe_pb, no_traceback
) -> None:
    doc = _doc(probe_server, probe_pb, idle_connection_timeout="1000h", max_call_recv_msg_size=3_000_000_000)
    client = await gateway(doc)
    resp = await client.post("/echo", data='{"total": 2}')
    assert resp.status == 200 and (await resp.json())["total"] == 2


async def test_grpc_answer_no_op_dead_host_is_500_without_grpcio_text(gateway, probe_pb, dead_port) -> None:
    client = await gateway(_doc(f"127.0.0.1:{dead_port}", probe_pb, noop=True))
    resp = await client.post("/echo", data="{}")
    assert resp.status == 500
    assert await resp.read() == b""  # not "failed to connect to all addresses; ... ipv4:127.0.0.1:…"


async def test_grpc_answer_no_op_deadline_passed_is_500_empty(gateway, flights_server, flights_pb) -> None:
    doc = _doc(flights_server.target, flights_pb, noop=True, timeout="300ms")
    doc["endpoints"][0]["backend"][0]["url_pattern"] = "/flights.Flights/FindFlight"
    client = await gateway(doc)
    resp = await client.post("/echo", data="{}", headers={"X-Behave": "sleep:2"})
    assert resp.status == 500 and await resp.read() == b""
    # the same status sent by the server before the deadline is the server's answer: passed on
    resp = await client.post("/echo", data="{}", headers={"X-Behave": "fail:DEADLINE_EXCEEDED"})
    assert resp.status == 504 and (await resp.json())["message"] == "told to fail with DEADLINE_EXCEEDED"


async def test_grpc_answer_no_op_too_large_is_500_empty(gateway, probe_server, probe_pb) -> None:
    client = await gateway(_doc(probe_server, probe_pb, noop=True, max_call_recv_msg_size=16))
    resp = await client.post("/echo", data='{"blob": "' + "A" * 64 + '"}')
    assert resp.status == 500 and await resp.read() == b""
    assert (await client.post("/echo", data='{"total": 1}')).status == 200


@pytest.mark.parametrize(("code", "status"), [("UNAVAILABLE", 503), ("RESOURCE_EXHAUSTED", 429)])
async def test_grpc_answer_no_op_passes_the_servers_status(gateway, probe_server, probe_pb, code, status) -> None:
    client = await gateway(_doc(probe_server, probe_pb, noop=True))
    assert (await client.post("/echo", data="{}")).status == 200  # the channel is connected
    resp = await client.post("/echo", data="{}", headers={"X-Status": code})
    assert resp.status == status
    assert await resp.json() == {
        "code": 14 if code == "UNAVAILABLE" else 8,
        "status": code,
        "message": "the server says no",
    }
