"""The native batch encoder (``_spanwire.c``): built beside the mypyc hot path, optional."""

from collections.abc import Callable, Sequence
from typing import Any

def spans(records: Sequence[tuple[Any, ...]], resource: bytes, scope: bytes, plan: Callable[[Any], Any], /) -> bytes:
    """An ``ExportTraceServiceRequest``: ``resource`` and ``scope`` encoded fields, each record's framed span."""

def forget() -> None:
    """Drop the templates' plans kept."""

def counts() -> tuple[int, int]:
    """The spans written natively and by their template's ``framed``, since the module was loaded."""
