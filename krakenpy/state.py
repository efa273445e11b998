"""Typed keys for state that components share (aiohttp's ``AppKey`` idea), instead of an untyped dict.

A component that needs one object per gateway (a Lua runtime, an AWS client, a JWKS cache) declares a
module-level :class:`Key` and asks :class:`State` for it; the value type travels with the key, so no
``cast`` is needed where it is read back::

    RUNTIMES: Final = Key("lua runtimes", dict)        # Key[dict[Any, Any]]
    runtimes = resources.state.setdefault(RUNTIMES, dict)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, final

__all__ = ["Key", "State"]

T = TypeVar("T")


@final
class Key(Generic[T]):
    """A name and the type of the value stored under it; keys compare by identity."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, type_: type[T]) -> None:
        self.name = name
        self.type = type_

    def __repr__(self) -> str:
        return f"<Key {self.name!r}: {getattr(self.type, '__name__', self.type)}>"


@final
class State:
    """Values stored under :class:`Key` s; each value is checked against its key's type once, when stored."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[Key[Any], Any] = {}

    def get(self, key: Key[T]) -> T | None:
        value: T | None = self._values.get(key)
        return value

    def __getitem__(self, key: Key[T]) -> T:
        value: T = self._values[key]
        return value

    def __contains__(self, key: Key[Any]) -> bool:
        return key in self._values

    def set(self, key: Key[T], value: T) -> T:
        if not isinstance(value, key.type):
            raise TypeError(f"{key!r} cannot hold a {type(value).__name__}")
        self._values[key] = value
        return value

    def setdefault(self, key: Key[T], make: Callable[[], T]) -> T:
        """The value under ``key``, created by ``make()`` on first use."""
        if key in self._values:
            value: T = self._values[key]
            return value
        return self.set(key, make())
