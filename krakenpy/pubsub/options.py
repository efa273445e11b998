"""The URL a pub/sub backend opens, checked at start-up (shared by the publisher and subscriber parse)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.components.base import Site
from krakenpy.errors import ConfigIssue
from krakenpy.pubsub.urls import BUILT_IN, NOT_BUILT_IN, SUBSCRIBE, DriverURL, parse_url

__all__ = ["PubSubOptions", "parse_pubsub"]

_KIND = {"topic_url": "topic", "subscription_url": "subscription"}


@dataclass(frozen=True, slots=True)
class PubSubOptions:
    """``url``: ``host[0] + <key>``; ``None`` when the backend cannot open anything (calls fail)."""

    url: DriverURL | None
    text: str
    #: why ``url`` is ``None``, or why calls will fail (the start-up log line)
    problem: str = ""


def parse_pubsub(raw: Mapping[str, Any], site: Site, key: str) -> PubSubOptions:
    """Join the backend's first host and ``raw[key]`` as krakend-pubsub does; what KrakenD would
    start with but fail on every call becomes a note (``check`` prints it, ``--lint`` refuses it)."""
    assert site.backend is not None
    hosts = site.backend.hosts
    text = (hosts[0] if hosts else "") + str(raw.get(key, ""))
    url = parse_url(text)
    problem = ""
    if not hosts:
        problem = "the backend has no host (the driver scheme, e.g. nats://)"
        url = None
    elif url is None:
        problem = f"{text!r} is not a driver URL (scheme://…)"
    else:
        built = BUILT_IN if key == "topic_url" else SUBSCRIBE
        names = ", ".join(sorted(built))
        if url.scheme in NOT_BUILT_IN or url.scheme in BUILT_IN - built:
            problem = f"krakenpy has no {url.scheme}:// {_KIND[key]} driver (built in: {names})"
        elif url.scheme not in built:
            problem = f"unknown pub/sub driver {url.scheme}:// (built in: {names})"
    if problem:
        site.notes.append(ConfigIssue(site.at(key), problem + ": every call fails", "warning"))
        return PubSubOptions(None, text, problem)
    return PubSubOptions(url, text)
