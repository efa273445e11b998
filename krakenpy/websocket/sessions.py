"""The sessions an endpoint's gateway is running: a gateway that closes (a reload retiring it, a
shutdown) ends each with 1001 (going away) before it closes the backend connections they use."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from krakenpy.websocket.socket import GOING_AWAY, close_quietly

__all__ = ["Sessions"]

#: how long the clients have to answer the 1001 before their sessions are cut
_GRACE = 1.0


class Sessions:
    """The live sessions of one gateway's endpoint: their tasks and client sockets."""

    def __init__(self) -> None:
        self._live: dict[asyncio.Task[Any], Any] = {}
        self.closed = False

    async def run(self, socket: Any, session: Callable[[], Awaitable[None]]) -> None:
        """Run ``session`` on ``socket``, counted live until it ends; none starts once closed."""
        task = asyncio.current_task()
        if self.closed or task is None:
            await close_quietly(socket, GOING_AWAY)
            return
        self._live[task] = socket
        try:
            await session()
        finally:
            self._live.pop(task, None)

    async def close(self) -> None:
        """Send 1001 to every live client, give the sessions a moment to end, then cut the rest."""
        self.closed = True
        live = dict(self._live)
        if not live:
            return
        await asyncio.gather(*(close_quietly(socket, GOING_AWAY) for socket in live.values()))
        _, pending = await asyncio.wait(live, timeout=_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_GRACE)
