"""``router`` (service): gin engine options: error bodies, redirects, health path, 405s, version
header, client IP rules. Read by the core (:class:`~krakenpy.config.options.RouterOptions`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.config.options import RouterOptions, parse_router

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> RouterOptions:
    return parse_router(raw, site.path)


COMPONENT: Final = Component(
    namespace="router",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="router behaviour: error bodies and messages, redirects, 405s, health path, version header",
    core=True,
    strict=False,
)
