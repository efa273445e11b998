"""``governance/processors`` (KrakenD Enterprise): the quota processors that ``governance/quota``
attachments name. Nothing runs here: a processor's Redis client and rejecter cache are made when the
first attachment is built (:func:`processor`), once per gateway; a processor no attachment names
gets a warning and costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.quota.options import PROCESSORS, QUOTA, ProcessorOptions, parse_processors
from krakenpy.redis_pools import parse_pools, redis_client
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "processor"]

if TYPE_CHECKING:  # the module loads redis: imported when an attachment is built
    from krakenpy.quota.processor import Processor

_LIVE: Final = Key("governance processors by name", dict)

_FAILURE = "krakenpy leaves Redis alone for 1 s after a failure instead of retrying"
_QUEUE = "krakenpy writes an exhausted counter into the rejecter cache at once, without a queue"


def _parse(raw: Any, site: Site) -> dict[str, ProcessorOptions]:
    return parse_processors(raw, site.path, site.service.extra_config)


def processor(options: ProcessorOptions, site: Site, resources: Resources) -> Processor:
    """The live processor of ``options`` in this gateway (its Redis client opened on first use)."""
    from krakenpy.fingerprint import store_name_key
    from krakenpy.quota.processor import Processor

    live: dict[str, Processor] = resources.state.setdefault(_LIVE, dict)
    found = live.get(options.name)
    if found is None:
        pools, _ = parse_pools(site.service.extra_config.get("redis"), "extra_config.redis")
        client = redis_client(pools[options.connection_name], resources)
        name_key = store_name_key(site.service.extra_config)  # README: a credential's hashed name
        found = live[options.name] = Processor(options, client, name_key=name_key)
        if found.rejecter is not None:
            resources.stack.callback(found.rejecter.close)
    return found


async def _build(
    options: dict[str, ProcessorOptions] | None, site: Site, resources: Resources
) -> EdgeMiddleware | None:
    if not options:
        return None
    used: set[str] = set()
    for values in resources.parsed.values():
        attached = values.get(QUOTA)
        if attached is not None:
            used.add(attached.processor.name)  # type: ignore[attr-defined]
    for name in sorted(set(options) - used):
        resources.warnings.append(f"{site.path}: quota {name!r} is attached nowhere (governance/quota)")
    return None


COMPONENT: Final[Component[dict[str, ProcessorOptions]]] = Component(
    namespace=PROCESSORS,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="quota processors: named rules of calendar limits (hour…year, UTC), counted in Redis per caller",
    edition="ee",
    edge=_build,
    ignored={
        "quotas[].on_failure_backoff_strategy": _FAILURE,
        "quotas[].on_failure_max_retries": _FAILURE,
        "quotas[].deny_queue_flush_interval": _QUEUE,
        "quotas[].deny_queue_flush_threshold": _QUEUE,
        "quotas[].deny_queue_size": _QUEUE,
        "quotas[].rejecter_cache.cleanup_interval": "the filter is emptied when the shortest window ends",
    },
)
