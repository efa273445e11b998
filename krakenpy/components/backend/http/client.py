"""``backend/http/client`` (backend): per-backend HTTP client behaviour; the CE core honours
``send_body_on_redirect``. Read by the core (:class:`~krakenpy.config.options.HttpClientOptions`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.config.options import HttpClientOptions, parse_http_client

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> HttpClientOptions:
    return parse_http_client(raw, site.path)


COMPONENT: Final = Component(
    namespace="backend/http/client",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="backend HTTP client: send_body_on_redirect",
    core=True,
    strict=False,
)
