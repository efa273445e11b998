"""Event payloads: unit checks of the builders, and API Gateway events as real handlers receive them."""

from __future__ import annotations

import base64

import orjson
import pytest

from krakenpy.errors import BackendError
from krakenpy.lambda_.payload import payload_builder
from krakenpy.proxy.types import Request
from tests.conftest import make_config
from tests.lambda_.conftest import lambda_backend


def request(**kw: object) -> Request:
    base: dict[str, object] = {
        "method": "POST",
        "path": "/",
        "params": {"Id": "7", "Resp0_x": "y"},
        "headers": {"User-Agent": ["ua"], "Cookie": ["a=1; b=2"], "X-Multi": ["1", "2"]},
        "query": {"q": ["1", "2"]},
        "body": b'{"k": 1}',
        "client_ip": "10.0.0.1",
        "host": "gw.local",
        "endpoint": "/items/{id}",
        "client_path": "/items/7",
    }
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


def test_payload_builder_params_lowercases_and_ends_with_newline() -> None:
    build = payload_builder("params", method="GET", param_names={})
    out = build(request(params={"First_name": "Ada", "LastName": "L"}))
    assert out.endswith(b"\n")
    assert orjson.loads(out) == {"first_name": "Ada", "lastname": "L"}


def test_payload_builder_body_rejects_non_json_with_400() -> None:
    build = payload_builder("body", method="POST", param_names={})
    assert build(request(body=b"[1]")) == b"[1]"
    assert build(request(body=b"")) == b"{}"
    with pytest.raises(BackendError) as info:
        build(request(body=b"a=1"))
    assert info.value.status == 400


def test_payload_builder_apigw_v1_shape() -> None:
    build = payload_builder("apigw_v1", method="PUT", param_names={"Id": "id"})
    event = orjson.loads(build(request()))
    assert event["version"] == "1.0"
    assert event["httpMethod"] == "PUT"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/7"
    assert event["pathParameters"] == {"id": "7", "Resp0_x": "y"}
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["identity"] == {"sourceIp": "10.0.0.1", "userAgent": "ua"}


def test_payload_builder_apigw_v2_shape_and_binary_body() -> None:
    build = payload_builder("apigw_v2", method="POST", param_names={"Id": "id"})
    event = orjson.loads(build(request(body=b"\xff\x00")))
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/7"
    assert event["rawQueryString"] == "q=1&q=2"
    assert event["queryStringParameters"] == {"q": "1,2"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2"
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.1"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


@pytest.mark.lambda_emulator
@pytest.mark.parametrize("mode", ["apigw_v1", "apigw_v2"])
async def test_payload_builder_apigw_events_reach_handler_filtered(gateway, lambda_endpoint, mode) -> None:
    backend = lambda_backend(lambda_endpoint, function_name="echo", payload=mode)
    doc = make_config(
        [
            {
                "endpoint": "/orders/{id}",
                "method": "POST",
                "input_headers": ["X-Tenant"],
                "input_query_strings": ["page"],
                "backend": [backend],
            }
        ]
    )
    client = await gateway(doc)
    resp = await client.post(
        "/orders/42?page=2&secret=1",
        data=b'{"qty": 3}',
        headers={"X-Tenant": "acme", "Authorization": "Bearer nope"},
    )
    assert resp.status == 200, await resp.text()
    event = (await resp.json())["event"]
    headers = {k.lower(): v for k, v in event["headers"].items()}
    assert headers["x-tenant"] == "acme"
    assert "authorization" not in headers  # not in input_headers: never reaches the function
    assert event["queryStringParameters"] == {"page": "2"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] == '{"qty": 3}'
    method = event["httpMethod"] if mode == "apigw_v1" else event["requestContext"]["http"]["method"]
    assert method == "POST"


def test_payload_builder_apigw_events_carry_verified_claims_like_jwt_authorizers() -> None:
    claims = {"sub": "ada", "exp": 1735689600, "scope": "read write", "roles": ["a", "b"], "email_verified": True}
    v2 = orjson.loads(payload_builder("apigw_v2", method="GET", param_names={})(request(claims=claims)))
    authorizer = v2["requestContext"]["authorizer"]["jwt"]
    assert authorizer["claims"] == {
        "sub": "ada",
        "exp": "1735689600",
        "scope": "read write",
        "roles": '["a","b"]',
        "email_verified": "true",
    }
    assert authorizer["scopes"] == ["read", "write"]
    v1 = orjson.loads(payload_builder("apigw_v1", method="GET", param_names={})(request(claims=claims)))
    assert v1["requestContext"]["authorizer"]["claims"]["sub"] == "ada"
    anonymous = orjson.loads(payload_builder("apigw_v2", method="GET", param_names={})(request()))
    assert "authorizer" not in anonymous["requestContext"]
