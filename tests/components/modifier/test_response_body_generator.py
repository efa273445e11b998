"""``modifier/response-body-generator``: JSON and ``no-op`` answers rewritten, failures."""

from __future__ import annotations

from typing import Any

from tests.components.modifier.test_body_generator import _b64, _echo
from tests.conftest import make_config


async def test_response_body_generator_rewrites_json_and_no_op_answers(gateway: Any, backend: Any) -> None:
    base = await backend(_echo())
    json_template = '{"wrapped": {{ toJson .resp_body }}, "list": [1, 2]}'
    list_template = "[{{ toJson .resp_body.path }}]"
    raw_template = 'status={{ .resp_status }} up={{ index .resp_headers "X-Up" 0 }} body={{ .resp_body }}'
    endpoints: list[dict[str, Any]] = [
        {
            "endpoint": "/json",
            "backend": [{"host": [base], "url_pattern": "/echo/j"}],
            "extra_config": {"modifier/response-body-generator": {"template": _b64(json_template)}},
        },
        {
            "endpoint": "/list",
            "backend": [
                {
                    "host": [base],
                    "url_pattern": "/echo/l",
                    "extra_config": {"modifier/response-body-generator": {"template": _b64(list_template)}},
                }
            ],
        },
        {
            "endpoint": "/raw",
            "output_encoding": "no-op",
            "backend": [
                {
                    "host": [base],
                    "url_pattern": "/raw",
                    "encoding": "no-op",
                    "extra_config": {
                        "modifier/response-body-generator": {
                            "template": _b64(raw_template),
                            "content_type": "text/plain",
                        }
                    },
                }
            ],
        },
    ]
    client = await gateway(make_config(endpoints))
    assert await (await client.get("/json")).json() == {
        "wrapped": {"got": "", "type": "", "path": "/echo/j"},
        "list": [1, 2],
    }
    assert await (await client.get("/list")).json() == {"collection": ["/echo/l"]}
    raw = await client.get("/raw")
    assert raw.status == 201 and raw.headers["Content-Type"] == "text/plain"
    assert await raw.text() == "status=201 up=yes body=plain words"


async def test_response_body_generator_failures_fail_the_call(gateway: Any, backend: Any) -> None:
    base = await backend(_echo())
    endpoints = [
        {
            "endpoint": "/notjson",
            "backend": [{"host": [base], "url_pattern": "/echo/a"}],
            "extra_config": {"modifier/response-body-generator": {"template": _b64("{oops")}},
        },
        {
            "endpoint": "/fails",
            "backend": [{"host": [base], "url_pattern": "/echo/a"}],
            "extra_config": {"modifier/response-body-generator": {"template": _b64("{{ .resp_body.path.deeper }}")}},
        },
    ]
    client = await gateway(make_config(endpoints))
    for path in ("/notjson", "/fails"):
        answer = await client.get(path)
        assert answer.status == 500, path
        assert "oops" not in await answer.text()


async def test_response_body_generator_status_and_headers_only_for_no_op(gateway: Any, backend: Any) -> None:
    """EE: ``.resp_status`` and ``.resp_headers`` exist "when using no-op (and only in this case)"."""
    base = await backend(_echo())
    template = '{"s": {{ toJson .resp_status }}, "h": {{ toJson .resp_headers }}, "p": {{ toJson .resp_body.path }}}'
    generator = {"modifier/response-body-generator": {"template": _b64(template)}}
    backends = [{"host": [base], "url_pattern": "/echo/a", "extra_config": generator}]
    client = await gateway(make_config([{"endpoint": "/r", "backend": backends}]))
    assert await (await client.get("/r")).json() == {"s": None, "h": None, "p": "/echo/a"}


async def test_response_body_generator_failure_is_no_breaker_failure(gateway: Any, backend: Any) -> None:
    """The template failing on a client's body: that call fails, but the backend answered, so bad
    bodies cannot open the backend's circuit breaker for every client."""
    base = await backend(_echo())
    template = '{"x": {{ required "x is required" .req_body.x | toJson }}}'
    extra = {
        "modifier/response-body-generator": {"template": _b64(template)},
        "qos/circuit-breaker": {"interval": 60, "timeout": 60, "max_errors": 1},
    }
    backends = [{"host": [base], "url_pattern": "/echo/a", "method": "POST", "extra_config": extra}]
    client = await gateway(make_config([{"endpoint": "/r", "method": "POST", "backend": backends}]))
    for _ in range(3):
        assert (await client.post("/r", data="{}")).status == 500
    answer = await client.post("/r", data='{"x": 1}')
    assert answer.status == 200 and await answer.json() == {"x": 1}
