"""``security/http``: allowed hosts, HTTPS redirect, HSTS and the security headers (edge layer).

Service level only, as in CE; it covers every route and the 404/405 answers but not ``GET`` of the
health path, which gin registers before its middlewares.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.httpsecure import SecureOptions, parse_secure, secure_middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "security/http"


def _parse(raw: Any, site: Site) -> SecureOptions:
    return parse_secure(raw, site.path)


async def _edge(options: SecureOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if options is None:
        return None
    router = site.service.router
    return secure_middleware(options, None if router.disable_health else router.health_path)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="allowed hosts, HTTPS redirect, HSTS and security headers (unrolled/secure) on every path",
    edge=_edge,
    ignored={
        "hpkp_public_key": "as in KrakenD: browsers dropped HTTP Public Key Pinning and KrakenD sends no such header"
    },
)
