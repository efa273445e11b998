"""``backend/amqp/producer`` (backend): publish the request body to a RabbitMQ topic exchange instead
of an HTTP call (executor layer). aiormq is imported by ``build`` only (:mod:`krakenpy.amqp.producer`)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.amqp.options import ProducerOptions, parse_producer
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> ProducerOptions:
    assert site.backend is not None
    return parse_producer(raw, site.path, hosts=site.backend.hosts)


async def _executor(options: ProducerOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.amqp.producer import producer_executor

    assert site.endpoint is not None
    proxy, publisher = producer_executor(options, site.endpoint.endpoint)
    resources.stack.push_async_callback(publisher.close)
    return proxy


COMPONENT: Final = Component(
    namespace="backend/amqp/producer",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="publish the request body to a RabbitMQ topic exchange; routing key and properties from parameters",
    executor=_executor,
    ignored={
        "name": "the producer declares only the exchange; the consumers declare and bind their queues",
        "exclusive": "it applies to queues; the producer declares only the exchange",
        "no_wait": "the exchange is declared waiting for the broker's answer",
        "max_retries": "the producer reconnects on the next call once the backoff has passed, without a limit",
        "no_local": "it applies to consumers",
        "prefetch_count": "it applies to consumers",
        "prefetch_size": "it applies to consumers",
    },
)
