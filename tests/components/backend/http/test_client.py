"""``backend/http/client``: parsed into the backend config (``send_body_on_redirect``, ``no_redirect``;
their effect on the wire: tests/server/test_wire_redirects.py)."""

from __future__ import annotations

from krakenpy.components.backend.http.client import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.config.options import HttpClientOptions
from tests.components.helpers import site


def test_backend_http_client_parse() -> None:
    parsed = COMPONENT.parse({"send_body_on_redirect": True}, site("backend/http/client", "backend"))
    assert parsed == HttpClientOptions(send_body_on_redirect=True)
    parsed = COMPONENT.parse({"no_redirect": True}, site("backend/http/client", "backend"))
    assert parsed == HttpClientOptions(no_redirect=True)


def test_backend_http_client_lands_on_the_backend_config() -> None:
    extra = {"backend/http/client": {"send_body_on_redirect": True}}
    backend = {"host": ["http://h"], "url_pattern": "/", "extra_config": extra}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    assert service.endpoints[0].backends[0].http_client.send_body_on_redirect
