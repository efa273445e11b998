"""``backend/amqp/consumer`` (backend): each call takes one message from a RabbitMQ queue instead of
an HTTP call (executor layer). aiormq is imported by ``build`` only (:mod:`krakenpy.amqp.consumer`);
the connection opens once the gateway serves, never during ``check``."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.amqp.options import ConsumerOptions, parse_consumer
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Proxy
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> ConsumerOptions:
    assert site.backend is not None
    return parse_consumer(raw, site.path, hosts=site.backend.hosts)


async def _executor(options: ConsumerOptions, site: Site, resources: Resources) -> Proxy | None:
    from krakenpy.amqp.consumer import Consumer
    from krakenpy.backends import backend_formatter
    from krakenpy.backends.encoding import decoder_for
    from krakenpy.tasks import cancel_and_wait, spawn
    from krakenpy.telemetry.setup import backend_prefix

    backend = site.backend
    assert backend is not None
    prefix = backend_prefix(resources, backend.url_pattern, "AMQP")
    consumer = Consumer(
        options, prefix, decoder_for(backend.encoding, backend.is_collection), backend_formatter(backend)
    )

    async def start() -> None:
        task = spawn(consumer.run())
        resources.stack.push_async_callback(cancel_and_wait, task)

    resources.on_serve.append(start)
    return consumer.proxy


COMPONENT: Final = Component(
    namespace="backend/amqp/consumer",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="take one message per call (basic.get) from a RabbitMQ queue bound to routing keys; ack once decoded",
    executor=_executor,
    ignored={
        "no_local": "RabbitMQ does not implement no-local consumers",
        "prefetch_count": "each call gets one message (basic.get): nothing is delivered ahead",
        "prefetch_size": "each call gets one message (basic.get): nothing is delivered ahead",
    },
)
