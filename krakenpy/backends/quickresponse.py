"""The answer object of the fast client's short path (:mod:`krakenpy.backends.quickanswer`): an
:class:`UpstreamResponse` whose header pairs are decoded only when read.

A module of its own because it extends a slotted dataclass, which a class compiled by mypyc cannot
(``quickanswer`` is compiled; this stays Python). The fast client builds it in compiled code as a
:class:`Building` whose class then becomes :class:`QuickResponse`, never through ``__init__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from krakenpy.backends.client import UpstreamResponse

if TYPE_CHECKING:
    from krakenpy.backends.quickanswer import QuickMessage

__all__ = ["Building", "QuickResponse"]


class QuickResponse(UpstreamResponse):
    """An :class:`UpstreamResponse` whose ``headers`` are decoded from the message on first read."""

    __slots__ = ("_message",)

    def __init__(self, message: QuickMessage, body: bytes) -> None:
        setattr_ = object.__setattr__  # a frozen dataclass: its fields are set as its own __init__ does
        setattr_(self, "status", message.code)
        setattr_(self, "body", body)
        setattr_(self, "content_type", message.content_type or "")
        setattr_(self, "_message", message)

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


class Building(QuickResponse):
    """A :class:`QuickResponse` being built (``krakenpy.backends.fastclient``): the same slots, set
    with object's own ``__setattr__``, then ``__class__`` becomes :class:`QuickResponse` (the same
    layout). Both methods are object's C slot wrappers, so the type's ``tp_setattro`` is CPython's
    generic setter itself; the frozen dataclass's own ``__setattr__``/``__delattr__`` are Python
    functions (an interpreted frame per field). Callgrind, per answer: 2.8 k instructions built this
    way, 4.2 k with ``object.__setattr__`` per field (the slot wrapper checks and packs its arguments
    each call), 5.8 k through ``__init__``. Never seen outside the builder."""

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__
