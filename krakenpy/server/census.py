"""This process's gateway connections and requests, counted where the server already keeps them and
read by telemetry when it collects (``/__stats``' ``router.connected``/``disconnected``, Prometheus
and OTLP's ``krakenpy_server_*`` series): nothing per request, two integer additions per connection.

Only the gateway's own listeners (:class:`~krakenpy.server.protocol.GatewayServer`) count: not the
side listeners (``/__stats``, ``/metrics``, the revoker's API), as KrakenD counts its router's.

A configuration counts the connections of its :class:`Tenure`: from when it begins serving (a reload's
swap, or its start) until the next one does or it stops. A reload's retired configuration keeps what it counted in the
worker's base (:mod:`krakenpy.telemetry.metrics.shared`) and the new one counts from the hand-over,
so no connection is counted by both while the old one drains.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from krakenpy.server.protocol import GatewayServer

__all__ = ["CENSUS", "Census", "Tenure"]


class Tenure:
    """The connections one configuration counts: accepted and closed between :meth:`take_over` (it
    serves) and the next configuration's or its own :meth:`end`; none before it takes over."""

    __slots__ = ("_census", "_first", "_last")

    def __init__(self, census: Census) -> None:
        self._census = census
        #: the census's (opened, closed) when it began, and when it ended (None: not yet)
        self._first: tuple[int, int] | None = None
        self._last: tuple[int, int] | None = None

    def opened(self) -> int:
        """Connections accepted in this tenure."""
        first = self._first
        if first is None:
            return 0
        last = self._last
        return (last[0] if last is not None else self._census.opened) - first[0]

    def closed(self) -> int:
        """Connections closed in this tenure."""
        first = self._first
        if first is None:
            return 0
        last = self._last
        return (last[1] if last is not None else self._census.closed) - first[1]

    @property
    def serving(self) -> bool:
        """Whether this is the configuration serving now (begun, not handed over nor ended)."""
        return self._census._current is self

    def take_over(self) -> None:
        """This configuration serves from now on (the one that served before stops counting)."""
        self._census.hand_over(self)

    async def begin(self) -> None:
        """:meth:`take_over`, as a service's start (the gateway's first start: not a reload's swap)."""
        self.take_over()

    async def end(self) -> None:
        """This configuration stops (it counts nothing more)."""
        self._census.retire(self)


class Census:
    """Connections accepted and closed since the process started, the listeners that serve now, and
    the tenure counting them."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self._servers: weakref.WeakSet[GatewayServer] = weakref.WeakSet()
        self._current: Tenure | None = None

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

    def tenure(self) -> Tenure:
        """A configuration's tenure, counting from its :meth:`Tenure.begin`."""
        return Tenure(self)

    def hand_over(self, tenure: Tenure) -> None:
        current = self._current
        if current is tenure:
            return
        now = (self.opened, self.closed)
        if current is not None and current._last is None:
            current._last = now
        tenure._first, tenure._last = now, None
        self._current = tenure

    def retire(self, tenure: Tenure) -> None:
        if tenure._first is not None and tenure._last is None:
            tenure._last = (self.opened, self.closed)
        if self._current is tenure:
            self._current = None


#: this process's census
CENSUS: Final = Census()
