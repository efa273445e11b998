"""Where telemetry plugs a ``ClientContext`` provider into the Lambda invoker (no engine imported)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from krakenpy.state import Key

__all__ = ["CLIENT_CONTEXT", "ClientContextSlot"]


class ClientContextSlot:
    """One per gateway: ``provide()`` returns the base64 ``ClientContext`` of the running request, or None.

    The invokers read the slot on every call, so a provider set after they were built still counts.
    """

    __slots__ = ("provide",)

    def __init__(self) -> None:
        self.provide: Callable[[], str | None] | None = None


CLIENT_CONTEXT: Final = Key("lambda client context", ClientContextSlot)
