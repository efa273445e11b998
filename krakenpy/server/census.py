"""This process's gateway connections and requests, counted where the server already keeps them and
read by telemetry when it collects (``/__stats``' ``router.connected``/``disconnected``, Prometheus
and OTLP's ``krakenpy_server_*`` series): nothing per request, two integer additions per connection.

Only the gateway's own listeners (:class:`~krakenpy.server.protocol.GatewayServer`) count: not the
side listeners (``/__stats``, ``/metrics``, the revoker's API), as KrakenD counts its router's."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from krakenpy.server.protocol import GatewayServer

__all__ = ["CENSUS", "Census"]


class Census:
    """Connections accepted and closed since the process started, and the listeners that serve now."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self._servers: weakref.WeakSet[GatewayServer] = weakref.WeakSet()

    def serve(self, server: GatewayServer) -> None:
        """``server`` is a gateway listener of this process (its open connections and requests count)."""
        self._servers.add(server)

    def open_connections(self) -> int:
        """Client connections open now."""
        return sum(len(server.connections) for server in self._servers)

    def active_requests(self) -> int:
        """Requests being answered now (an HTTP/2 connection answering streams counts once). A walk
        of the open connections: read at a collection, never per request."""
        return sum(server.in_flight() for server in self._servers)


#: this process's census
CENSUS: Final = Census()
