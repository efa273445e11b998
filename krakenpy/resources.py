"""Long-lived things the compiled pipeline shares, created once at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakenpy.config.model import ServiceConfig

if TYPE_CHECKING:  # a runtime import would run krakenpy.backends first (an import cycle via lambda_)
    from krakenpy.backends.client import UpstreamClient

__all__ = ["Resources"]


@dataclass
class Resources:
    """Passed explicitly to every component factory; no module-level singletons."""

    service: ServiceConfig
    http: UpstreamClient
    stack: AsyncExitStack
    #: where relative paths (Lua ``sources``) are resolved: the working directory, as KrakenD does
    base_dir: Path = field(default_factory=Path.cwd)
    #: component caches keyed by what makes two instances interchangeable (Lambda clients...)
    cache: dict[Hashable, Any] = field(default_factory=dict)
    #: warnings found while compiling (logged at startup, printed by ``check``)
    warnings: list[str] = field(default_factory=list)
