"""HTTP/2 prior knowledge on the HTTP/1.1 listener: a gateway that serves HTTP/2 (``grpc.server``)
leaves its takeover in its state, and the server hands it the connections that start with the
preface. The server knows no component: it only calls what it is given."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeAlias

from krakenpy.resources import Resources
from krakenpy.state import Key

if TYPE_CHECKING:
    from krakenpy.server.connection import GatewayProtocol

__all__ = ["H2_TAKEOVER", "PREFACE", "H2Takeover", "h2_takeover"]

#: the HTTP/2 client connection preface (RFC 9113 §3.4)
PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: ``takeover(connection, transport, rest)``: serve the connection from now on; ``rest`` came after the preface
H2Takeover: TypeAlias = Callable[["GatewayProtocol", asyncio.Transport, bytes], object]
H2_TAKEOVER: Final = Key("http/2 takeover", object)


def h2_takeover(gateway: object) -> H2Takeover | None:
    """The takeover ``gateway`` (or its :class:`~krakenpy.resources.Resources`) left, if any."""
    resources = gateway if isinstance(gateway, Resources) else getattr(gateway, "resources", None)
    found = resources.state.get(H2_TAKEOVER) if isinstance(resources, Resources) else None
    return found if callable(found) else None
