"""``validation/json-schema-errors`` (krakenpy extension, krakend-ce#310): JSON details for requests
that ``validation/json-schema`` rejects.

An endpoint-layer middleware (so a service-level value covers every endpoint) that turns the
rejection raised by the proxy layer into ``{"error": ..., "details": [...]}``; an endpoint value sits
inside the service one and wins. KrakenD ignores the namespace, so a config using it still runs there
(with KrakenD's plain 400s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.bodyschema import ErrorDetails, SchemaRejection
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "details_middleware", "parse"]

NAMESPACE: Final = "validation/json-schema-errors"


def parse(raw: Any, site: Site) -> ErrorDetails:
    """The schema checked the types and ranges; missing fields take their defaults."""
    value = raw if isinstance(raw, Mapping) else {}
    return ErrorDetails(max_details=int(value.get("max_details", 10)), status=int(value.get("status", 400)))


def details_middleware(details: ErrorDetails) -> Middleware:
    """Answer schema rejections with JSON details (a rejection already detailed passes unchanged)."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def detailed(request: Request) -> Response:
            try:
                return await next_proxy(request)
            except SchemaRejection as exc:
                if exc.public_body:
                    raise
                raise exc.with_details(details) from exc  # the same failure: logged once

        return detailed

    return middleware


async def build(options: ErrorDetails, site: Site, resources: Resources) -> Middleware | None:
    """Service level: around every endpoint; endpoint level: around that one."""
    return details_middleware(options)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=parse,
    summary="JSON details (instance path, keyword, message) for rejected request bodies, opt-in",
    edition="krakenpy",
    endpoint=build,
)
