"""``validation/json-schema`` (and krakenpy's ``validation/json-schema-errors``) through the real
pipeline and server, with a real loopback backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.components.base import Site
from krakenpy.components.validation import json_schema, json_schema_errors
from krakenpy.config.model import build_service
from krakenpy.errors import ConfigError
from tests.components.validation.helpers import HITS, Serve, backend_app, serving

Start = Callable[[web.Application], Awaitable[str]]
SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 2}, "age": {"type": "integer", "minimum": 0}},
}


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async for value in serving():
        yield value


def doc(host: str, extra: dict[str, Any] | None = None, *, msg: bool = True, **service: Any) -> dict[str, Any]:
    ep = {
        "endpoint": "/users",
        "method": "POST",
        "backend": [{"url_pattern": "/create", "method": "POST"}],
        "extra_config": {"validation/json-schema": SCHEMA, **(extra or {})},
    }
    router = {"router": {"return_error_msg": True}} if msg else {}
    return {"version": 3, "host": [host], "endpoints": [ep], "extra_config": {**router, **service}}


async def test_json_schema_valid_body_reaches_the_backend_unchanged(backend: Start, serve: Serve) -> None:
    app = backend_app()
    client, _ = await serve(doc(await backend(app)))
    body = b'{"name": "Ada",  "age": 36}'
    resp = await client.post("/users", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert (await resp.json())["body"] == body.decode()  # byte for byte, spacing included
    assert app[HITS] == ["/create"]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "could not validate an empty body"),
        (b'{"name": ', "invalid JSON body:"),
        (b'{"name": "A", "age": -1}', "jsonschema validation failed\n- at '/name': "),
        (b"[]", "jsonschema validation failed\n- at '': "),
    ],
)
async def test_json_schema_rejections_are_400s(backend: Start, serve: Serve, body: bytes, text: str) -> None:
    app = backend_app()
    client, _ = await serve(doc(await backend(app)))
    resp = await client.post("/users", data=body)
    assert resp.status == 400
    assert (await resp.text()).startswith(text)
    assert resp.headers["X-Krakend-Completed"] == "false"
    assert "X-Krakend" in resp.headers
    assert app[HITS] == []


async def test_json_schema_message_only_with_return_error_msg(backend: Start, serve: Serve) -> None:
    client, _ = await serve(doc(await backend(backend_app()), msg=False))
    resp = await client.post("/users", data=b'{"name": 1}')
    assert resp.status == 400
    assert await resp.read() == b""
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_json_schema_endpoint_cel_runs_first(backend: Start, serve: Serve) -> None:
    cel = {"validation/cel": [{"check_expr": "req_headers['X-Tenant'][0] == 'acme'"}]}
    ep_doc = doc(await backend(backend_app()), cel)
    ep_doc["endpoints"][0]["input_headers"] = ["X-Tenant"]
    client, _ = await serve(ep_doc)
    resp = await client.post("/users", data=b"", headers={"X-Tenant": "other"})
    assert (resp.status, await resp.text()) == (500, "request aborted by evaluator #0")
    resp = await client.post("/users", data=b"", headers={"X-Tenant": "acme"})
    assert (resp.status, await resp.text()) == (400, "could not validate an empty body")


async def test_json_schema_errors_details_at_the_endpoint(backend: Start, serve: Serve) -> None:
    errors = {"validation/json-schema-errors": {"status": 422, "max_details": 5}}
    client, _ = await serve(doc(await backend(backend_app()), errors, msg=False))
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


async def test_json_schema_errors_details_at_the_service_level(backend: Start, serve: Serve) -> None:
    service_level = {"validation/json-schema-errors": {}}
    client, _ = await serve(doc(await backend(backend_app()), msg=False, **service_level))
    resp = await client.post("/users", data=b"{}")
    assert resp.status == 400
    details = orjson.loads(await resp.read())["details"]
    missing = '"name" is a required property'
    assert details == [{"instance_path": "", "schema_path": "/required", "keyword": "required", "message": missing}]


async def test_json_schema_on_a_get_endpoint_rejects_every_request(backend: Start, serve: Serve) -> None:
    ep = {"endpoint": "/list", "backend": [{"url_pattern": "/list"}], "extra_config": {"validation/json-schema": {}}}
    client, _ = await serve({"version": 3, "host": [await backend(backend_app())], "endpoints": [ep]})
    assert (await client.get("/list")).status == 400


def _site(schema: Any) -> Site:
    ep = {"endpoint": "/a", "backend": [{"url_pattern": "/a"}], "extra_config": {"validation/json-schema": schema}}
    service = build_service({"version": 3, "host": ["http://127.0.0.1:10"], "endpoints": [ep]})
    return Site("endpoint", "endpoints[0].extra_config.validation/json-schema", service, service.endpoints[0])


def test_json_schema_parse_reports_the_failing_keyword() -> None:
    schema = {"properties": {"age": {"type": "integer", "minimum": "zero"}}}
    with pytest.raises(ConfigError) as info:
        json_schema.parse(schema, _site(schema))
    assert [i.path for i in info.value.issues] == [
        "endpoints[0].extra_config.validation/json-schema.properties.age.minimum"
    ]


def test_json_schema_parse_without_details_keeps_krakend_behaviour() -> None:
    options = json_schema.parse(SCHEMA, _site(SCHEMA))
    assert options.details is None
    assert json_schema_errors.COMPONENT.edition == "krakenpy"
    assert json_schema_errors.parse({}) == json_schema_errors.ErrorDetails(max_details=10, status=400)
