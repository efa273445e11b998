"""``async/amqp`` (agent): the AMQP driver of an ``async_agent`` (agent layer). aiormq is imported by
``build`` only (:mod:`krakenpy.amqp.agent`): configurations without an AMQP agent never load it."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.amqp.options import QueueOptions, parse_queue
from krakenpy.asyncagent.types import Driver
from krakenpy.components.base import Component, Site
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> QueueOptions:
    return parse_queue(raw, site.path, host=str(raw.get("host", "")))


async def _agent(options: QueueOptions, site: Site, resources: Resources) -> Driver | None:
    from krakenpy.amqp.agent import agent_driver

    return agent_driver(options)


COMPONENT: Final = Component(
    namespace="async/amqp",
    levels=frozenset({"agent"}),
    parse=_parse,
    summary="RabbitMQ driver of an async agent: topic exchange, queue bound to the agent's topic, ack/nack",
    agent=_agent,
    ignored={"no_local": "RabbitMQ does not implement no-local consumers"},
)
