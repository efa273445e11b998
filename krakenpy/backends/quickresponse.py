"""The answer object of the fast client's short path (:mod:`krakenpy.backends.quickanswer`): an
:class:`UpstreamResponse` whose header pairs are decoded only when read.

A module of its own because it extends a slotted dataclass, which a class compiled by mypyc cannot
(``quickanswer`` is compiled; this stays Python). The fast client builds it without calling
``__init__`` (``object.__new__`` and :func:`~krakenpy.backends.quickanswer.fill`, from compiled
code): the interpreted ``__init__`` frame cost ~5 k instructions per backend call.
"""

from __future__ import annotations

from krakenpy.backends.client import UpstreamResponse
from krakenpy.backends.quickanswer import QuickMessage, fill

__all__ = ["QuickResponse"]


class QuickResponse(UpstreamResponse):
    """An :class:`UpstreamResponse` whose ``headers`` are decoded from the message on first read."""

    __slots__ = ("_message",)

    def __init__(self, message: QuickMessage, body: bytes) -> None:
        fill(self, message, body)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs as received."""
        message: QuickMessage = object.__getattribute__(self, "_message")
        return message.pairs

    def _fields(self) -> tuple[int, tuple[tuple[str, str], ...], bytes, str]:
        return self.status, self.headers, self.body, self.content_type

    def __eq__(self, other: object) -> bool:
        """Equal to any :class:`UpstreamResponse` with the same fields (as llhttp's path answers)."""
        if not isinstance(other, UpstreamResponse):
            return NotImplemented
        return self._fields() == (other.status, other.headers, other.body, other.content_type)

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[UpstreamResponse], tuple[int, tuple[tuple[str, str], ...], bytes, str]]:
        """Copied or pickled as the plain :class:`UpstreamResponse` it equals (its headers decoded):
        the dataclass's own state restore would try to set the read-only ``headers``."""
        return UpstreamResponse, self._fields()
