"""``backend/http``: return_error_code / return_error_details."""

from __future__ import annotations

from krakenpy.components.backend.http import COMPONENT
from krakenpy.config.options import HttpBackendOptions
from tests.components.helpers import json_app, site
from tests.conftest import make_config


def test_backend_http_details_win_over_the_code() -> None:
    parsed = COMPONENT.parse({"return_error_code": True, "return_error_details": "b1"}, site("backend/http", "backend"))
    assert parsed == HttpBackendOptions(return_error_code=False, return_error_details="b1")
    assert COMPONENT.parse(None, site("backend/http", "backend")) == HttpBackendOptions()


async def test_backend_http_return_error_code_through_the_gateway(backend, gateway) -> None:
    host = await backend(json_app({"e": "teapot"}, status=418))
    doc = make_config(
        [
            {
                "endpoint": "/a",
                "backend": [
                    {"host": [host], "url_pattern": "/", "extra_config": {"backend/http": {"return_error_code": True}}}
                ],
            }
        ]
    )
    client = await gateway(doc)
    response = await client.get("/a")
    assert response.status == 418
    assert response.headers["X-Krakend-Completed"] == "false"
