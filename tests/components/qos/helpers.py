"""Build one component the way the assembly does: a real ServiceConfig, its Site, real Resources."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from krakenpy.backends.client import AiohttpClient
from krakenpy.components.base import Component, Site
from krakenpy.config.build import build_service
from krakenpy.resources import Resources
from tests.conftest import make_config


def site_for(
    namespace: str,
    value: Any,
    *,
    level: str = "endpoint",
    endpoint: str = "/x/{id}",
    service_extra: dict[str, Any] | None = None,
) -> Site:
    """A one-endpoint, one-backend config holding ``value`` at ``level``; the Site of that value."""
    backend: dict[str, Any] = {"host": ["http://127.0.0.1:9000"], "url_pattern": "/"}
    ep: dict[str, Any] = {"endpoint": endpoint, "backend": [backend]}
    if level == "endpoint":
        ep["extra_config"] = {namespace: value}
        path = f"endpoints[0].extra_config.{namespace}"
    elif level == "backend":
        backend["extra_config"] = {namespace: value}
        path = f"endpoints[0].backend[0].extra_config.{namespace}"
    else:
        path = f"extra_config.{namespace}"
    extra = dict(service_extra or {})
    if level == "service":
        extra[namespace] = value
    service = build_service(make_config([ep], extra_config=extra))
    endpoint_cfg = service.endpoints[0]
    return Site(
        level=level,  # type: ignore[arg-type]
        path=path,
        service=service,
        endpoint=endpoint_cfg if level != "service" else None,
        backend=endpoint_cfg.backends[0] if level == "backend" else None,
    )


def resources_for(site: Site) -> Resources:
    return Resources(service=site.service, http=AiohttpClient(), stack=AsyncExitStack())


async def build(component: Component[Any], layer: str, value: Any, **kw: Any) -> tuple[Any, Resources]:
    """Parse and build ``value`` for ``layer``; returns (middleware or None, resources)."""
    site = site_for(component.namespace, value, **kw)
    options = component.parse(value, site)
    resources = resources_for(site)
    builder = component.builder(layer)  # type: ignore[arg-type]
    assert builder is not None
    return await builder(options, site, resources), resources
