"""``qos/http-cache``: cache a backend's responses in its upstream client, following their HTTP
caching headers (:mod:`krakenpy.httpcache`).

``{}`` gives the backend a private cache; ``shared: true`` puts it in the one cache every shared
backend uses (the first shared backend's sizes create it, as in KrakenD); ``max_items`` and
``max_size`` together make the cache an LRU bounded by both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.backends.client import ClientMiddleware
from krakenpy.components.base import Component, Site
from krakenpy.httpcache.store import Store
from krakenpy.httpcache.transport import cache_middleware
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE", "SHARED_CACHE", "CacheOptions"]

NAMESPACE = "qos/http-cache"
#: the cache of every ``shared`` backend
SHARED_CACHE: Final = Key("http cache: shared store", Store)


@dataclass(frozen=True, slots=True)
class CacheOptions:
    shared: bool = False
    max_size: int = 0
    max_items: int = 0


def _size(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(int(value), 0)


def _parse(raw: Any, site: Site) -> CacheOptions:
    raw = raw if isinstance(raw, Mapping) else {}
    return CacheOptions(
        shared=raw.get("shared") is True, max_size=_size(raw, "max_size"), max_items=_size(raw, "max_items")
    )


async def _build(options: CacheOptions, site: Site, resources: Resources) -> ClientMiddleware | None:
    if options.shared:
        store = resources.state.setdefault(SHARED_CACHE, lambda: Store(options.max_items, options.max_size))
    else:
        store = Store(options.max_items, options.max_size)
    return cache_middleware(store)


COMPONENT: Component[CacheOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="HTTP cache of backend responses (Cache-Control, Expires, ETag revalidation, Vary), private or shared",
    client=_build,
)
