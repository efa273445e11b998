"""``proxy`` (endpoint, backend): sequential pipes, static data and flatmap at endpoint level;
flatmap and shadow backends at backend level. Read by the core
(:class:`~krakenpy.config.options.EndpointProxyOptions`, :class:`~krakenpy.config.options.BackendProxyOptions`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.config.options import (
    BackendProxyOptions,
    EndpointProxyOptions,
    parse_backend_proxy,
    parse_endpoint_proxy,
)

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> EndpointProxyOptions | BackendProxyOptions:
    if site.level == "backend":
        return parse_backend_proxy(raw, site.path)
    return parse_endpoint_proxy(raw, site.path)


COMPONENT: Final = Component(
    namespace="proxy",
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="merging: sequential backends, static data, flatmap filters, shadow backends",
    core=True,
    strict=False,
    ignored={
        "combiner": "the shallow merge is the only combiner: named ones come from Go plugins",
        "strategy": "set sequential: true for sequential backends",
        "force_sandboxed_request": "every backend always gets its own copy of the request body",
    },
)
