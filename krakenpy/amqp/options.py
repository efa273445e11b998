"""The AMQP namespaces' options, parsed (pure: the schema owns the types)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.userinfo import mask_url

__all__ = [
    "ConsumerOptions",
    "ProducerOptions",
    "QueueOptions",
    "parse_consumer",
    "parse_producer",
    "parse_queue",
    "redact",
]


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """An exchange (always ``topic``) and a queue, as krakend-amqp declares them."""

    host: str
    name: str
    exchange: str
    durable: bool = False
    delete: bool = False
    exclusive: bool = False
    no_wait: bool = False
    auto_ack: bool = False
    prefetch_count: int = 0
    prefetch_size: int = 0
    nack_discard: bool = False


def redact(url: str) -> str:
    """``url`` with its password hidden (whatever it holds, :mod:`krakenpy.userinfo`): what logs and
    error messages may show of a broker."""
    try:
        urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    return mask_url(url)  # a URL without scheme:// too: parse_queue quotes what is no amqp:// URL


def parse_queue(raw: Mapping[str, Any], path: str, *, host: str) -> QueueOptions:
    """The queue options of ``raw`` (at ``path``), connecting to ``host``."""
    scheme = urlsplit(host).scheme if host else ""
    if scheme not in ("amqp", "amqps"):
        where = f"{path}.host" if "host" in raw else path
        shown = redact(host) if host else "nothing"
        raise ConfigError([ConfigIssue(where, f"the broker must be an amqp:// or amqps:// URL, got {shown}")])
    return QueueOptions(
        host=host,
        name=str(raw.get("name", "")),
        exchange=str(raw.get("exchange", "")),
        durable=bool(raw.get("durable", False)),
        delete=bool(raw.get("delete", False)),
        exclusive=bool(raw.get("exclusive", False)),
        no_wait=bool(raw.get("no_wait", False)),
        auto_ack=bool(raw.get("auto_ack", False)),
        prefetch_count=int(raw.get("prefetch_count", 0) or 0),
        prefetch_size=int(raw.get("prefetch_size", 0) or 0),
        nack_discard=bool(raw.get("nack_discard", False)),
    )


@dataclass(frozen=True, slots=True)
class ProducerOptions:
    """The exchange to publish to and where each message's routing key and properties come from."""

    queue: QueueOptions
    routing_key: str = ""
    #: ``routing_key`` is the key itself, not the name of a request parameter holding it
    static_routing_key: bool = False
    mandatory: bool = False
    immediate: bool = False
    exp_key: str = ""
    msg_id_key: str = ""
    priority_key: str = ""
    reply_to_key: str = ""
    backoff_strategy: str = ""


def parse_producer(raw: Mapping[str, Any], path: str, *, hosts: tuple[str, ...]) -> ProducerOptions:
    """The producer options of ``raw`` (at ``path``), publishing to the backend's first host."""
    if not hosts:
        raise ConfigError([ConfigIssue(path, "the AMQP producer needs the broker URL in the backend's host")])
    return ProducerOptions(
        queue=parse_queue(raw, path, host=hosts[0]),
        routing_key=str(raw.get("routing_key", "")),
        static_routing_key=bool(raw.get("static_routing_key", False)),
        mandatory=bool(raw.get("mandatory", False)),
        immediate=bool(raw.get("immediate", False)),
        exp_key=str(raw.get("exp_key", "")),
        msg_id_key=str(raw.get("msg_id_key", "")),
        priority_key=str(raw.get("priority_key", "")),
        reply_to_key=str(raw.get("reply_to_key", "")),
        backoff_strategy=str(raw.get("backoff_strategy", "")),
    )


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """The queue a consumer backend reads, the routing keys bound to it, and its reconnections."""

    queue: QueueOptions
    routing_key: tuple[str, ...] = ()
    max_retries: int = 0
    backoff_strategy: str = ""


def parse_consumer(raw: Mapping[str, Any], path: str, *, hosts: tuple[str, ...]) -> ConsumerOptions:
    """The consumer options of ``raw`` (at ``path``), reading from the backend's first host."""
    if not hosts:
        raise ConfigError([ConfigIssue(path, "the AMQP consumer needs the broker URL in the backend's host")])
    keys = raw.get("routing_key") or []
    return ConsumerOptions(
        queue=parse_queue(raw, path, host=hosts[0]),
        routing_key=tuple(str(k) for k in keys),
        max_retries=int(raw.get("max_retries", 0) or 0),
        backoff_strategy=str(raw.get("backoff_strategy", "")),
    )
