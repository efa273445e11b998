"""``modifier/request-body-generator`` (endpoint and backend, KrakenD Enterprise field names): a Go
template writes the request body (``content_type``, default ``application/json``). At an endpoint
every backend gets the generated body; at a backend that backend alone (after the request builder:
in a sequential proxy the template sees the earlier answers as ``Resp0_*`` params). The template is
parsed once at start-up (:mod:`krakenpy.bodygen`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.bodygen import BodyTemplate, parse_template
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "build_proxy", "build_backend", "parse"]

NAMESPACE: Final = "modifier/request-body-generator"


def parse(raw: Mapping[str, Any], site: Site) -> BodyTemplate:
    """The template (inline ones compiled here; files read at build)."""
    return parse_template(raw, site, content_type="application/json")


async def _build(options: BodyTemplate, site: Site, resources: Resources) -> Middleware:
    from krakenpy.bodygen.middleware import request_generator

    compiled = await options.load(resources)
    namespace = site.path.rpartition(".extra_config.")[2]
    return request_generator(compiled, options.content_type, options.debug, namespace)


async def build_proxy(options: BodyTemplate, site: Site, resources: Resources) -> Middleware | None:
    """Endpoint level: before the backends."""
    return await _build(options, site, resources) if site.level == "endpoint" else None


async def build_backend(options: BodyTemplate, site: Site, resources: Resources) -> Middleware | None:
    """Backend level: that backend's request."""
    return await _build(options, site, resources) if site.level == "backend" else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=parse,
    summary="a Go template (file or inline) writes the request body sent to the backends",
    proxy=build_proxy,
    backend=build_backend,
    edition="ee",
)
