"""Long-lived things the compiled pipeline shares, created once at startup and closed at shutdown."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from krakenpy.config.model import ServiceConfig
from krakenpy.state import State

if TYPE_CHECKING:  # until backends/ stops importing lambda_ (which imports this module)
    from krakenpy.backends.client import UpstreamClient

__all__ = ["Resources"]


@dataclass
class Resources:
    """Passed explicitly to every component builder; no module-level singletons."""

    service: ServiceConfig
    http: UpstreamClient
    stack: AsyncExitStack
    #: where relative paths (Lua ``sources``) are resolved: the working directory, as KrakenD does
    base_dir: Path = field(default_factory=Path.cwd)
    #: objects components share, under typed keys (Lambda clients, Lua runtimes, key sets...)
    state: State = field(default_factory=State)
    #: warnings found while building (logged at startup, printed by ``check``)
    warnings: list[str] = field(default_factory=list)
