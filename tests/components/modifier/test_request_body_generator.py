"""``modifier/request-body-generator``: an endpoint's inline template reaches every backend."""

from __future__ import annotations

from typing import Any

from tests.components.modifier.test_body_generator import _b64, _echo
from tests.conftest import make_config


async def test_request_body_generator_endpoint_inline_reaches_every_backend(gateway: Any, backend: Any) -> None:
    base = await backend(_echo())
    template = '<order id="{{ .req_params.Id }}">{{ .req_body }}</order>'
    generator = {"modifier/request-body-generator": {"template": _b64(template), "content_type": "text/xml"}}
    endpoint = {
        "endpoint": "/orders/{id}",
        "method": "POST",
        "backend": [
            {"host": [base], "url_pattern": "/echo/a", "group": "a"},
            {"host": [base], "url_pattern": "/echo/b", "group": "b"},
        ],
        "extra_config": generator,
    }
    client = await gateway(make_config([endpoint]))
    answer = await (await client.post("/orders/7", data=b"not json")).json()
    for group in ("a", "b"):
        assert answer[group]["got"] == '<order id="7">not json</order>'
        assert answer[group]["type"] == "text/xml"


async def test_request_body_generator_without_a_client_body(gateway: Any, backend: Any) -> None:
    """An empty body is an empty object: reading a field prints Go's <no value> instead of failing."""
    base = await backend(_echo())
    template = '{"contents": [{"text": "{{ index .req_params "Q" }}"}], "email": "{{ .req_body.email }}"}'
    endpoint = {
        "endpoint": "/ask/{q}",
        "backend": [
            {
                "host": [base],
                "url_pattern": "/echo/g",
                "method": "POST",
                "extra_config": {"modifier/request-body-generator": {"template": _b64(template)}},
            }
        ],
    }
    client = await gateway(make_config([endpoint]))
    answer = await (await client.get("/ask/hello")).json()
    assert answer["got"] == '{"contents": [{"text": "hello"}], "email": "<no value>"}'
    assert answer["type"] == "application/json"
