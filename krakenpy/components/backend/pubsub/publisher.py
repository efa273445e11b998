"""``backend/pubsub/publisher`` (backend, KrakenD CE): publish the request body to a topic
instead of an HTTP call (executor layer). The drivers are in :mod:`krakenpy.pubsub`, imported by
``build`` only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Proxy
from krakenpy.pubsub.options import PubSubOptions, parse_pubsub
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]

NAMESPACE: Final = "backend/pubsub/publisher"


def _parse(raw: Mapping[str, Any], site: Site) -> PubSubOptions:
    return parse_pubsub(raw, site, "topic_url")


async def _executor(options: PubSubOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.pubsub.backend import failing_proxy, publisher_executor

    assert site.backend is not None
    if options.url is None:
        return failing_proxy(options, site, resources)
    return publisher_executor(options.url, site, resources)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="publish the request body and headers to a mem, nats, kafka, rabbit, awssns, awssqs or gcppubsub topic",
    executor=_executor,
)
