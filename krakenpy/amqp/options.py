"""The AMQP namespaces' options, parsed (pure: the schema owns the types)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["QueueOptions", "parse_queue", "redact"]


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
    """``url`` with its password hidden: what logs and error messages may show of a broker."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:[REDACTED]@{netloc[2]}").geturl()


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
