"""The executors of a publisher and a subscriber backend, and the drivers they open (once per URL)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from krakenpy.backends.encoding import decoder_for
from krakenpy.components.base import Site
from krakenpy.config.model import BackendConfig
from krakenpy.errors import BackendError
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.pubsub.driver import Message, Subscription, Topic
from krakenpy.pubsub.options import PubSubOptions
from krakenpy.pubsub.urls import BUILT_IN, SUBSCRIBE, DriverURL
from krakenpy.resources import Resources
from krakenpy.state import Key
from krakenpy.tasks import spawn

log = logging.getLogger("krakenpy.pubsub")

__all__ = [
    "failing_proxy",
    "open_subscription",
    "open_topic",
    "publisher_executor",
    "publisher_proxy",
    "subscriber_executor",
    "subscriber_proxy",
]


class _Drivers:
    """The per-gateway connections the drivers share (one NATS connection, one GCP session)."""

    def __init__(self) -> None:
        self.shared: dict[str, Any] = {}

    def get(self, scheme: str, make: Callable[[], Any], resources: Resources) -> Any:
        found = self.shared.get(scheme)
        if found is None:
            found = self.shared[scheme] = make()
            resources.stack.push_async_callback(found.close)
        return found


_DRIVERS: Final = Key("pub/sub driver connections", _Drivers)


def open_topic(url: DriverURL, resources: Resources) -> Topic:
    """The topic of a built-in scheme (``BackendError`` for a bad URL)."""
    drivers = resources.state.setdefault(_DRIVERS, _Drivers)
    if url.scheme == "mem":
        from krakenpy.pubsub.mem import BROKER, MemBroker

        return resources.state.setdefault(BROKER, MemBroker).topic(url)
    if url.scheme == "nats":
        from krakenpy.pubsub.nats import NatsConnection, NatsTopic

        return NatsTopic(drivers.get("nats", NatsConnection, resources), url)
    if url.scheme == "gcppubsub":
        from krakenpy.pubsub.gcp import GcpClient, GcpTopic

        return GcpTopic(drivers.get("gcppubsub", GcpClient, resources), url)
    if url.scheme == "kafka":
        from krakenpy.pubsub.kafka import KafkaProducer, KafkaTopic

        return KafkaTopic(drivers.get("kafka", KafkaProducer, resources), url)
    if url.scheme == "rabbit":
        from krakenpy.pubsub.rabbit import RabbitConnection, RabbitTopic

        return RabbitTopic(drivers.get("rabbit", RabbitConnection, resources), url)
    if url.scheme in ("awssns", "awssqs"):
        from krakenpy.pubsub.aws import AwsClients, SnsTopic, SqsTopic

        clients = drivers.get("aws", lambda: AwsClients(resources), resources)
        return SnsTopic(clients, url) if url.scheme == "awssns" else SqsTopic(clients, url)
    raise BackendError(f"pub/sub: no {url.scheme}:// driver in krakenpy (built in: {', '.join(sorted(BUILT_IN))})")


def open_subscription(url: DriverURL, resources: Resources, owner: str = "") -> Subscription:
    """The subscription of a built-in scheme (``BackendError`` for a bad URL); ``owner``: the
    backend's JSON path, the same in every worker (NATS' implicit queue group)."""
    drivers = resources.state.setdefault(_DRIVERS, _Drivers)
    if url.scheme == "mem":
        from krakenpy.pubsub.mem import BROKER, MemBroker

        subscription = resources.state.setdefault(BROKER, MemBroker).subscription(url)
        resources.stack.push_async_callback(subscription.close)
        return subscription
    if url.scheme == "nats":
        from krakenpy.pubsub.nats import NatsConnection, NatsSubscription

        nats_subscription = NatsSubscription(drivers.get("nats", NatsConnection, resources), url, owner)
        if resources.serving:  # subscribed while the gateway is built: a reload leaves no gap
            nats_subscription.begin()
            resources.on_serve.append(nats_subscription.start)
        resources.stack.push_async_callback(nats_subscription.close)
        return nats_subscription
    if url.scheme == "gcppubsub":
        from krakenpy.pubsub.gcp import GcpClient, GcpSubscription

        return GcpSubscription(drivers.get("gcppubsub", GcpClient, resources), url)
    if url.scheme == "rabbit":
        from krakenpy.pubsub.rabbit import RabbitConnection, RabbitSubscription

        rabbit_subscription = RabbitSubscription(drivers.get("rabbit", RabbitConnection, resources), url)
        resources.stack.push_async_callback(rabbit_subscription.close)
        return rabbit_subscription
    if url.scheme == "awssqs":
        from krakenpy.pubsub.aws import AwsClients, SqsSubscription

        return SqsSubscription(drivers.get("aws", lambda: AwsClients(resources), resources), url)
    raise BackendError(
        f"pub/sub: no {url.scheme}:// subscription driver in krakenpy (built in: {', '.join(sorted(SUBSCRIBE))})"
    )


def _metadata(request: Request) -> dict[str, str]:
    """The first value of each header the backend request carries (krakend-pubsub's rule)."""
    return {name: values[0] for name, values in request.headers.items() if values}


def publisher_proxy(topic: Topic) -> Proxy:
    """Send the request body; the answer is an empty, complete response (as KrakenD's)."""

    async def call(request: Request) -> Response:
        await topic.send(request.body, _metadata(request))
        return Response(data={}, is_complete=True)

    return call


def _settle(subscription: Subscription, message: Message) -> None:
    """Acknowledge beside the request, as gocloud's non-blocking ``Ack``: an acknowledgement still in
    flight when the endpoint timeout cancels the request would be applied by the broker while the
    client gets an error (a lost message); a failed one only means the broker delivers it again."""
    _ = spawn(_ack(subscription, message))


async def _ack(subscription: Subscription, message: Message) -> None:
    try:
        await subscription.ack(message)
    except BackendError as exc:
        log.warning("[PubSub] acknowledgement failed (the message comes back): %s", exc)


async def _nack(subscription: Subscription, message: Message) -> None:
    try:
        await subscription.nack(message)
    except BackendError as exc:
        log.debug("[PubSub] giving a message back failed: %s", exc)


def subscriber_proxy(subscription: Subscription, backend: BackendConfig, formatter: Formatter | None) -> Proxy:
    """The next message, decoded with the backend's encoding and filtered; acknowledged once
    decoded (a message that cannot be decoded is not: the broker gives it again after its ack
    deadline, as in KrakenD)."""
    noop = backend.encoding == "no-op"
    decode = decoder_for(backend.encoding, backend.is_collection)

    async def call(request: Request) -> Response:
        message = await subscription.receive()
        if noop:
            _settle(subscription, message)
            return Response(data={}, is_complete=True, body=message.body)
        try:
            data = decode(message.body) if message.body else {}
        except BackendError:
            _ = spawn(_nack(subscription, message))
            raise
        _settle(subscription, message)
        if formatter is not None:
            data = formatter(data)
        return Response(data=data, is_complete=True)

    return call


def _failing(text: str, problem: str) -> Proxy:
    """Every call fails with ``problem`` (start-up reported it once: a ``check`` note or warning)."""

    async def call(request: Request) -> Response:
        raise BackendError(f"pub/sub {text}: {problem}")

    return call


def failing_proxy(options: PubSubOptions, site: Site, resources: Resources) -> Proxy:
    """A backend whose URL cannot be opened: every call fails (500), as KrakenD's fallback would."""
    return _failing(options.text, options.problem)


def publisher_executor(url: DriverURL, site: Site, resources: Resources) -> Proxy:
    """The publisher of one backend (its topic opened now; connections on first use)."""
    try:
        topic = open_topic(url, resources)
    except BackendError as exc:
        resources.warnings.append(f"{site.at('topic_url')}: {exc}: every call fails")
        return _failing(url.text, str(exc))
    return publisher_proxy(topic)


def subscriber_executor(url: DriverURL, site: Site, resources: Resources) -> Proxy:
    """The subscriber of one backend (subscribed when the gateway starts serving)."""
    from krakenpy.backends import backend_formatter

    assert site.backend is not None
    try:
        subscription = open_subscription(url, resources, site.path)
    except BackendError as exc:
        resources.warnings.append(f"{site.at('subscription_url')}: {exc}: every call fails")
        return _failing(url.text, str(exc))
    return subscriber_proxy(subscription, site.backend, backend_formatter(site.backend))
