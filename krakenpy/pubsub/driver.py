"""What a pub/sub driver provides: a topic to send to and a subscription to receive from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Message", "Subscription", "Topic"]


@dataclass(slots=True)
class Message:
    """One received message; ``ack``/``nack`` settle it with the broker (no-ops where it has none)."""

    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    ack_id: str = ""


class Topic(Protocol):
    """A topic opened once per backend; ``send`` raises ``BackendError`` when the broker refuses."""

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        """Publish one message."""
        ...

    async def close(self) -> None:
        """Flush and release what the topic holds."""
        ...


class Subscription(Protocol):
    """A subscription opened once per backend; ``receive`` waits (cancellable, losing nothing)."""

    async def receive(self) -> Message:
        """The next message."""
        ...

    async def ack(self, message: Message) -> None:
        """The message was used: the broker may forget it."""
        ...

    async def nack(self, message: Message) -> None:
        """The message could not be used: give it back now, where the broker can (else its ack
        deadline does)."""
        ...

    async def close(self) -> None:
        """Stop receiving."""
        ...
