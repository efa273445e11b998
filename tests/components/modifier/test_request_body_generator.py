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


async def test_request_body_generator_client_data_failures_are_clean(gateway: Any, backend: Any, caplog: Any) -> None:
    """A client body nested past the Python stack, or a client count that would build a huge body:
    that call fails (500) with one log line, no traceback; the next request is served."""
    base = await backend(_echo())
    template = '<order n="{{ repeat .req_body.n "ab" }}">{{ .req_body.items }}</order>'
    generator = {"modifier/request-body-generator": {"template": _b64(template), "content_type": "text/xml"}}
    endpoint = {
        "endpoint": "/o",
        "method": "POST",
        "backend": [{"host": [base], "url_pattern": "/echo/o"}],
        "extra_config": generator,
    }
    client = await gateway(make_config([endpoint]))
    caplog.set_level("DEBUG")
    deep = '{"n": 1, "items": ' + "[" * 600 + "]" * 600 + "}"
    assert (await client.post("/o", data=deep)).status == 500
    assert (await client.post("/o", data='{"n": 1000000000000, "items": 1}')).status == 500
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records if r.exc_info]
    assert "nested too deeply" in caplog.text and "10485760" in caplog.text
    answer = await (await client.post("/o", data='{"n": 2, "items": [[1]]}')).json()
    assert answer["got"] == '<order n="abab">[[1]]</order>'
