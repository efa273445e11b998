"""``backend/http/client`` (backend): per-backend HTTP client behaviour: ``send_body_on_redirect``
(CE), ``no_redirect`` and ``proxy_address`` (EE). Read by the core
(:class:`~krakenpy.config.options.HttpClientOptions`)."""

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
    summary="backend HTTP client: send_body_on_redirect, no_redirect, proxy_address",
    core=True,
    strict=False,
    ignored={
        "client_tls": "KrakenD Enterprise only: the backend is verified against the system CA pool, "
        "without client certificates",
    },
)
