"""Lambda answers: function errors, non-object results and proxy-integration envelopes."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from krakenpy.errors import BackendError
from krakenpy.lambda_.invoker import InvokeResult
from krakenpy.lambda_.options import parse_options
from krakenpy.lambda_.response import result_decoder, shape
from tests.lambda_.conftest import lambda_backend, lambda_config


def decoder(noop: bool = False, **raw: Any):  # type: ignore[no-untyped-def]
    options = parse_options({"function_name": "f", **raw}, method="GET", path="x")
    return result_decoder(options, None, noop=noop)


def ok(payload: Any) -> InvokeResult:
    return InvokeResult(status=200, payload=orjson.dumps(payload), executed_version="3")


def test_shape_wraps_non_objects() -> None:
    assert shape({"a": 1}) == {"a": 1}
    assert shape([1]) == {"collection": [1]}
    assert shape(3) == {"content": 3}
    assert shape(None) == {}


def test_result_decoder_keeps_only_executed_version_header() -> None:
    response = decoder()(ok({"a": 1}), "f")
    assert response.data == {"a": 1}
    assert response.headers == {"X-Amz-Executed-Version": ["3"]}


def test_result_decoder_function_error_statuses() -> None:
    crashed = InvokeResult(200, b'{"errorType": "KeyError", "errorMessage": "k"}', function_error="Handled")
    with pytest.raises(BackendError) as info:
        decoder()(crashed, "f")
    assert info.value.status == 502
    assert info.value.backend_status == 502  # a Lua post script sees the status served, not Invoke's 200
    assert "KeyError" in str(info.value)
    with pytest.raises(BackendError) as info:
        decoder(error_type_status={"KeyError": 404}, function_error_status=500)(crashed, "f")
    assert info.value.status == 404
    assert info.value.backend_status == 404
    garbage = InvokeResult(200, b"not json", function_error="Unhandled")
    with pytest.raises(BackendError) as info:
        decoder(function_error_status=503)(garbage, "f")
    assert info.value.status == 503


def test_result_decoder_non_json_result_is_502() -> None:
    with pytest.raises(BackendError) as info:
        decoder()(InvokeResult(200, b"<html>"), "f")
    assert info.value.status == 502


def test_result_decoder_proxy_envelope() -> None:
    envelope = {
        "statusCode": "201",
        "headers": {"content-type": "application/json", "x-a": 1, "content-length": "9"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
        "body": '{"id": 5}',
    }
    response = decoder(proxy_integration=True)(ok(envelope), "f")
    assert response.data == {"id": 5}
    assert response.override_status == 201
    assert response.override_headers == {"X-A": ["1"], "Set-Cookie": ["a=1", "b=2"]}
    assert response.is_complete


def test_result_decoder_proxy_envelope_text_and_base64() -> None:
    text = {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "gone"}
    response = decoder(proxy_integration=True)(ok(text), "f")
    assert response.data == {"content": "gone"}
    assert response.override_status == 404
    assert not response.is_complete
    raw = {"statusCode": 200, "body": base64.b64encode(b"\x00bin").decode(), "isBase64Encoded": True}
    response = decoder(True, proxy_integration=True)(ok(raw), "f")
    assert response.body == b"\x00bin"


@pytest.mark.parametrize(
    "envelope",
    [
        {"statusCode": 99},
        {"statusCode": "abc"},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"a": {"b": 1}}},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
        {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{nope"},
        [1, 2],
    ],
)
def test_result_decoder_bad_proxy_envelope_is_502(envelope: Any) -> None:
    with pytest.raises(BackendError) as info:
        decoder(proxy_integration=True)(ok(envelope), "f")
    assert info.value.status == 502


@pytest.mark.lambda_emulator
async def test_result_decoder_proxy_integration_through_gateway(gateway, lambda_endpoint) -> None:
    py = lambda_backend(lambda_endpoint, function_name="apigw", payload="apigw_v1", proxy_integration=True)
    py["allow"] = ["seen.httpMethod"]
    raw = lambda_backend(lambda_endpoint, function_name="apigw", payload="apigw_v1", proxy_integration=True)
    doc = lambda_config(
        [
            {"endpoint": "/py", "input_query_strings": ["status", "binary"], "backend": [py]},
            {
                "endpoint": "/raw",
                "output_encoding": "no-op",
                "input_query_strings": ["status", "binary"],
                "backend": [raw],
            },
        ]
    )
    client = await gateway(doc)
    resp = await client.get("/py?status=202")
    assert resp.status == 202
    assert await resp.json() == {"seen": {"httpMethod": "GET"}}  # body decoded, then filtered
    assert resp.headers["X-Function"] == "apigw"
    assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert resp.headers["Content-Type"].startswith("application/json")
    resp = await client.get("/raw?binary=1&status=200")
    assert resp.status == 200
    assert await resp.read() == b"\x00\x01binary"
    assert resp.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.lambda_emulator
async def test_result_decoder_node_proxy_response(gateway, lambda_endpoint, needs_node) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="proxy-js", payload="apigw_v2", proxy_integration=True)
    client = await gateway(lambda_config([{"endpoint": "/things", "method": "POST", "backend": [backend]}]))
    resp = await client.post("/things", data=b"{}")
    assert resp.status == 201
    assert resp.headers["X-Runtime"] == "node"
    assert await resp.json() == {"created": True, "path": "/things"}
