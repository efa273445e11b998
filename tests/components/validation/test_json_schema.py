"""``validation/json-schema`` (and krakenpy's ``validation/json-schema-errors``) through the real
pipeline and server, with a real loopback backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.base import Site
from krakenpy.components.validation import json_schema
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from tests.components.validation.helpers import HITS, backend_app
from tests.components.validation.helpers import schema_config as doc

Start = Callable[[web.Application], Awaitable[str]]
Gateway = Callable[..., Awaitable[Any]]


async def test_json_schema_valid_body_reaches_the_backend_unchanged(backend: Start, gateway: Gateway) -> None:
    app = backend_app()
    client = await gateway(doc(await backend(app)))
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
async def test_json_schema_rejections_are_400s(backend: Start, gateway: Gateway, body: bytes, text: str) -> None:
    app = backend_app()
    client = await gateway(doc(await backend(app)))
    resp = await client.post("/users", data=body)
    assert resp.status == 400
    assert (await resp.text()).startswith(text)
    assert resp.headers["X-Krakend-Completed"] == "false"
    assert "X-Krakend" in resp.headers
    assert app[HITS] == []


async def test_json_schema_message_only_with_return_error_msg(backend: Start, gateway: Gateway) -> None:
    client = await gateway(doc(await backend(backend_app()), msg=False))
    resp = await client.post("/users", data=b'{"name": 1}')
    assert resp.status == 400
    assert await resp.read() == b""
    assert resp.headers["X-Krakend-Completed"] == "false"


async def test_json_schema_endpoint_cel_runs_first(backend: Start, gateway: Gateway) -> None:
    cel = {"validation/cel": [{"check_expr": "req_headers['X-Tenant'][0] == 'acme'"}]}
    ep_doc = doc(await backend(backend_app()), cel)
    ep_doc["endpoints"][0]["input_headers"] = ["X-Tenant"]
    client = await gateway(ep_doc)
    resp = await client.post("/users", data=b"", headers={"X-Tenant": "other"})
    assert (resp.status, await resp.text()) == (500, "request aborted by evaluator #0")
    resp = await client.post("/users", data=b"", headers={"X-Tenant": "acme"})
    assert (resp.status, await resp.text()) == (400, "could not validate an empty body")


async def test_json_schema_on_a_get_endpoint_rejects_every_request(backend: Start, gateway: Gateway) -> None:
    ep = {"endpoint": "/list", "backend": [{"url_pattern": "/list"}], "extra_config": {"validation/json-schema": {}}}
    client = await gateway({"version": 3, "host": [await backend(backend_app())], "endpoints": [ep]})
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
