"""What a driver is: it connects, consumes the agent's topic and hands each message to the runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from krakenpy.config.model import AgentConfig

__all__ = ["Driver", "Handler", "Started"]

#: called once a worker (and a max_rate token) is free for a message, before its pipe runs
Started: TypeAlias = Callable[[], Awaitable[None]]
#: ``handle(body, started)`` runs one message body through the agent's pipe (workers and max_rate
#: applied), calling ``started`` (if any) first; True: acknowledge
Handler: TypeAlias = Callable[[bytes, Started | None], Awaitable[bool]]
#: ``driver(agent, handle, connected)``: one connection's life. Connects, declares, consumes and calls
#: ``connected()`` once consuming; returns when the broker ends the connection, raises when it
#: cannot connect or the connection breaks (the runner reconnects with the agent's backoff)
Driver: TypeAlias = Callable[[AgentConfig, Handler, Callable[[], None]], Awaitable[None]]
