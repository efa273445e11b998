"""krakenpy's HTTP/1.1 server: aiohttp's C request parser under connections of our own
(:class:`~krakenpy.server.connection.GatewayProtocol`), serving an
:data:`~krakenpy.edge.EdgeHandler` without aiohttp's web layer, with the client-facing limits Go's
``http.Server`` has: header, read, write and idle clocks, a total header size, Go's answers to
malformed requests, an exact drain, and a handler that can be swapped under live connections (hot
reload).

The clocks cost nothing per request beyond a few attribute writes: each connection records its next
deadline, and one sweep per worker (every :attr:`ServerLimits.tick`) closes the connections whose
deadline passed.

:class:`GatewayServer` is the protocol factory ``loop.create_server`` takes (plain or TLS: the
connections never look at the transport's kind); it also works under aiohttp's runners and sites
(:class:`krakenpy.server.webrunner.GatewayRunner`) for embedding and tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from krakenpy.edge import EdgeHandler, SplitEdge
from krakenpy.server.census import CENSUS
from krakenpy.server.connection import GatewayProtocol
from krakenpy.server.limits import ServerLimits
from krakenpy.server.sweep import MAX_HEADER_LINES, SweptServer
from krakenpy.server.takeover import H2Takeover

if TYPE_CHECKING:
    from krakenpy.server.balance import Share

__all__ = ["MAX_HEADER_LINES", "GatewayProtocol", "GatewayServer"]


def __getattr__(name: str) -> object:
    # GatewayRunner lived here until it moved to webrunner.py (aiohttp's web layer, which `krakenpy
    # run` no longer imports): still importable from here, without importing that layer at start-up
    if name == "GatewayRunner":
        from krakenpy.server.webrunner import GatewayRunner

        return GatewayRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger("krakenpy.server")


class GatewayServer(SweptServer):
    """The protocol factory of a listener serving ``handler``; ``limits`` apply to connections made
    after they are set (the parser's line sizes) and to every clock armed after. Create it on the
    loop that serves it."""

    def __init__(self, handler: EdgeHandler, *, limits: ServerLimits) -> None:
        self.handler = handler
        #: ``handler`` when it is an edge layer whose steps run in the request's own coroutine
        self.edge = handler if isinstance(handler, SplitEdge) else None
        #: what serves a connection that starts with the HTTP/2 preface (``None``: refused as HTTP/1.1 does)
        self.h2: H2Takeover | None = None
        self.connections: set[GatewayProtocol] = set()
        #: ``run -w N``: this worker's entry in the workers' live connection counts (:mod:`.balance`)
        self.share: Share | None = None
        self._loop = asyncio.get_running_loop()
        self._start_clocks(limits)
        CENSUS.serve(self)

    def __call__(self) -> GatewayProtocol:
        if self._sweeper is None:  # paused while no connection was open
            self.connecting()
        return GatewayProtocol(self, self._loop)

    def join(self, connection: GatewayProtocol) -> None:
        """``connection`` was accepted (its ``connection_made``)."""
        self.connections.add(connection)
        CENSUS.opened += 1

    def lost(self, connection: object) -> None:
        """``connection`` closed (its ``connection_lost``, or its upgraded protocol's)."""
        if connection in self.connections:
            self.connections.discard(connection)
            CENSUS.closed += 1
            if self.share is not None:
                self.share.closed()

    def _open(self) -> bool:
        return bool(self.connections)

    def protocols(self) -> list[GatewayProtocol]:
        """The open connections."""
        return list(self.connections)

    def _expire_due(self, now: float) -> None:
        for connection in list(self.connections):
            deadline = connection._deadline
            if deadline and now >= deadline:
                connection.expire(now)

    def in_flight(self) -> int:
        """Requests being handled now."""
        return sum(1 for c in self.connections if c.busy)

    async def swap(self, handler: EdgeHandler) -> Callable[[], bool]:
        """Serve every request that starts from now on with ``handler``, also on open keep-alive
        connections; returns a test that is true once the requests started before have finished."""
        self.handler = handler  # each request reads it when it starts
        self.edge = handler if isinstance(handler, SplitEdge) else None
        before = {c: c.started for c in self.connections if c.busy}  # an HTTP/2 connection answers many

        def drained() -> bool:
            return all(c.transport is None or not c.busy or c.finished >= n for c, n in before.items())

        return drained

    async def drain(self, timeout: float) -> bool:
        """Close idle connections now and busy ones after their response; after ``timeout`` seconds
        (0: no bound) close whatever is left, cutting its request. True when nothing was cut."""
        # the process clock, not loop.time(): uvloop's is libuv's, read once per loop turn in whole
        # milliseconds, and a deadline from it cut the drain up to a turn early (0.59997 s of 0.6)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        for connection in list(self.connections):
            connection.close_after_response()  # at once when waiting for a request or its headers
        while self.in_flight():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            await asyncio.sleep(0.01 if left is None else min(0.01, left))
        cut = self.in_flight()
        for connection in list(self.connections):
            connection.close_now()
        return cut == 0

    # aiohttp's runner interface (web.BaseRunner.cleanup): what embedding with aiohttp's sites calls

    def pre_shutdown(self) -> None:
        """Nothing to do before the listeners close (aiohttp's runner hook)."""

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain (aiohttp's runner hook), then stop the sweep."""
        await self.drain(timeout or 0.0)
        self.stop_sweeping()
