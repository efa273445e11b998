"""``qos/ratelimit/router``: the endpoint's client (429) and global (503) token buckets, in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from krakenpy.components.base import Component, Site
from krakenpy.names import capitalize
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.keys import KeyExtractor, key_extractor
from krakenpy.ratelimit.options import MEMORY_IGNORED, RouterLimitOptions, parse_router_limit
from krakenpy.ratelimit.router import NAMESPACE, router_limit_middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "client_key"]


def _parse(raw: Any, site: Site) -> RouterLimitOptions:
    return parse_router_limit(raw if isinstance(raw, Mapping) else {})


def client_key(options: RouterLimitOptions, site: Site, resources: Resources) -> KeyExtractor | None:
    """The client-key extractor, or ``None`` (with KrakenD's warning) when the client limit is off."""
    if options.client_max_rate <= 0:
        return None
    extract = key_extractor(options.strategy, options.key)
    if extract is None:
        _warn(resources, site, f"unknown strategy {options.strategy!r}: the client limit is disabled")
        return None
    if options.strategy in ("header", "param", "jwt") and not options.key:
        _warn(resources, site, f"strategy {options.strategy!r} without a key: every request gets 429")
    elif options.strategy == "param" and site.endpoint is not None:
        if capitalize(options.key) not in {capitalize(p) for p in site.endpoint.params}:
            _warn(resources, site, f"the endpoint has no parameter {options.key!r}: every request gets 429")
    elif options.strategy == "param":  # a service-wide limit: every endpoint should have the parameter
        name = capitalize(options.key)
        lacking = [e.endpoint for e in site.service.endpoints if name not in {capitalize(p) for p in e.params}]
        if lacking:
            shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            message = f"endpoints without a parameter {options.key!r} answer 429 to every request: {shown}"
            _warn(resources, site, message)
    return extract


def _warn(resources: Resources, site: Site, message: str) -> None:
    resources.warnings.append(f"{site.path}: {message}")


async def _build(options: RouterLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    return router_limit_middleware(options, client_key(options, site, resources))


COMPONENT: Component[RouterLimitOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=_parse,
    summary="endpoint rate limit: per-client bucket (429) and global bucket (503), in memory",
    endpoint=_build,
    ignored=MEMORY_IGNORED,
)
