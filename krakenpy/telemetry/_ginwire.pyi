"""The native gin batch writer (``_ginwire.c``): built beside the mypyc hot path, optional."""

from collections.abc import Callable
from typing import Any

def lines(
    entries: list[Any], locate: Callable[[int], tuple[bytes, int, int]], head: bytes, low: int, high: int, /
) -> bytes | None:
    """gin's lines of a batch of ``GinEntry`` tuples; None when one is not a usual entry."""
