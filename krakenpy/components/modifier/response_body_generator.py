"""``modifier/response-body-generator`` (endpoint and backend, KrakenD Enterprise field names): a Go
template writes the answer from ``.resp_body`` (and, on ``no-op`` answers, ``.resp_headers`` and
``.resp_status``) and the request's variables. A ``no-op`` answer's body becomes the output, sent as
``content_type``; any other answer's data becomes the output decoded as JSON (an array under
``collection``, a scalar under ``content``; not JSON: the call fails). At an endpoint it rewrites the
merged answer, at a backend that backend's answer before the merge. The template is parsed once at
start-up (:mod:`krakenpy.bodygen`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.bodygen import BodyTemplate, parse_template
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "modifier/response-body-generator"


def _parse(raw: Mapping[str, Any], site: Site) -> BodyTemplate:
    return parse_template(raw, site, content_type="application/json")


async def _build(options: BodyTemplate, site: Site, resources: Resources) -> Middleware:
    from krakenpy.bodygen.middleware import response_generator

    compiled = await options.load(resources)
    return response_generator(compiled, options.content_type, options.debug, NAMESPACE)


async def _build_proxy(options: BodyTemplate, site: Site, resources: Resources) -> Middleware | None:
    return await _build(options, site, resources) if site.level == "endpoint" else None


async def _build_backend(options: BodyTemplate, site: Site, resources: Resources) -> Middleware | None:
    return await _build(options, site, resources) if site.level == "backend" else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="a Go template (file or inline) writes the answer from the response body, headers and status",
    proxy=_build_proxy,
    backend=_build_backend,
    edition="ee",
)
