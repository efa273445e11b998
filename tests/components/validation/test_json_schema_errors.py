"""krakenpy's ``validation/json-schema-errors``: JSON details for rejected bodies, through the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from krakenpy.bodyschema import ErrorDetails
from krakenpy.components.validation import json_schema_errors
from tests.components.validation.helpers import backend_app
from tests.components.validation.helpers import schema_config as doc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]


async def test_json_schema_errors_details_at_the_endpoint(backend: Start, gateway: Gateway) -> None:
    errors = {"validation/json-schema-errors": {"status": 422, "max_details": 5}}
    client = await gateway(doc(await backend(backend_app()), errors, msg=False))
    resp = await client.post("/users", data=b'{"name": "A", "age": -1}')
    assert resp.status == 422
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["X-Krakend-Completed"] == "false"
    body = orjson.loads(await resp.read())
    assert body["error"] == "jsonschema validation failed"
    found = {(d["instance_path"], d["keyword"]) for d in body["details"]}
    assert found == {("/name", "minLength"), ("/age", "minimum")}
    empty = await client.post("/users", data=b"")
    assert empty.status == 422
    assert orjson.loads(await empty.read()) == {"error": "could not validate an empty body", "details": []}


async def test_json_schema_errors_details_at_the_service_level(backend: Start, gateway: Gateway) -> None:
    service_level = {"validation/json-schema-errors": {}}
    client = await gateway(doc(await backend(backend_app()), msg=False, **service_level))
    resp = await client.post("/users", data=b"{}")
    assert resp.status == 400
    details = orjson.loads(await resp.read())["details"]
    missing = '"name" is a required property'
    assert details == [{"instance_path": "", "schema_path": "/required", "keyword": "required", "message": missing}]


async def test_json_schema_errors_endpoint_value_wins_over_the_service_one(backend: Start, gateway: Gateway) -> None:
    endpoint_level = {"validation/json-schema-errors": {"status": 422}}
    service_level = {"validation/json-schema-errors": {"status": 409}}
    client = await gateway(doc(await backend(backend_app()), endpoint_level, msg=False, **service_level))
    assert (await client.post("/users", data=b"{}")).status == 422


async def test_json_schema_errors_leave_other_errors_alone(backend: Start, gateway: Gateway) -> None:
    cel = {"validation/cel": [{"check_expr": "req_method == 'PUT'"}]}
    errors = {"validation/json-schema-errors": {"status": 422}}
    client = await gateway(doc(await backend(backend_app()), {**cel, **errors}, msg=True))
    resp = await client.post("/users", data=b"{}")
    assert (resp.status, await resp.text()) == (500, "request aborted by evaluator #0")


def test_json_schema_errors_defaults() -> None:
    assert json_schema_errors.parse({}, None) == ErrorDetails(max_details=10, status=400)  # type: ignore[arg-type]
    assert json_schema_errors.COMPONENT.edition == "krakenpy"
