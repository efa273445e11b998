"""Driver URLs (gocloud.dev's ``scheme://rest?query``): which schemes krakenpy has, and where the
servers are (gocloud reads them from the environment, not from the URL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

__all__ = ["BUILT_IN", "NOT_BUILT_IN", "SUBSCRIBE", "DriverURL", "parse_url"]

#: the schemes krakenpy has a topic driver for
BUILT_IN: Final = frozenset({"mem", "nats", "gcppubsub", "kafka", "awssns", "awssqs", "rabbit"})
#: ... and a subscription driver for
SUBSCRIBE: Final = frozenset({"mem", "nats", "gcppubsub", "awssqs", "rabbit"})
#: gocloud schemes KrakenD CE knows and krakenpy does not have (calls fail, as an unopened topic in KrakenD)
NOT_BUILT_IN: Final = frozenset({"azuresb"})


@dataclass(frozen=True, slots=True)
class DriverURL:
    """``scheme://name?query``: ``name`` is everything between the ``//`` and the query."""

    scheme: str
    name: str
    query: dict[str, list[str]]
    text: str

    def param(self, key: str, default: str = "") -> str:
        """The first value of a query parameter."""
        values = self.query.get(key)
        return values[0] if values else default


def parse_url(text: str) -> DriverURL | None:
    """``None`` when ``text`` is not ``scheme://…`` (gocloud: ``open pubsub.Topic: no scheme``)."""
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return None
    name, _, query = rest.partition("?")
    return DriverURL(scheme.lower(), name, parse_qs(query, keep_blank_values=True), text)
