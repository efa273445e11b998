"""Long-lived things the compiled pipeline shares, created once at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from krakenpy.config.model import EndpointConfig, ServiceConfig
from krakenpy.state import State

if TYPE_CHECKING:  # until backends/ stops importing lambda_ (which imports this module)
    from krakenpy.backends.client import UpstreamClient
    from krakenpy.proxy.types import Proxy

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
    #: False while ``check`` builds the gateway only to find errors: components then skip side effects
    #: that belong to serving (listening sockets, background refresh tasks, files they would create)
    serving: bool = True
    #: every component's parsed options: owner JSON path ("" = service) → namespace → options
    parsed: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: started once the gateway listens (``run``, never ``check``): exporters, stats listeners...;
    #: what they open is closed through :attr:`stack`
    on_serve: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: run in one worker of ``run`` only, before the gateway's port accepts and before :attr:`on_serve`
    #: and :attr:`agents`: the telemetry listeners (``/__stats``, Prometheus ``/metrics``: one port per
    #: gateway). Apart from the agents so that ``sequential_start`` (the agents' connection waits before
    #: the gateway listens) delays no scrape
    one_worker: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: run after :attr:`one_worker`, in the same worker: the async agents' starters
    agents: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: run the moment a reload's server swaps to this gateway (its requests from now on), before the
    #: old one drains and :attr:`on_serve` runs: what must change hands at once (the connection counts)
    on_swap: list[Callable[[], None]] = field(default_factory=list)
    #: the upstream clients note connection and body-read timings (telemetry/opentelemetry's
    #: detailed_connection / read_payload): set once, also for the clients made later (proxies)
    client_timing: bool = False
    #: builds the proxy of an endpoint-shaped object without a route (an ``ai/mcp`` tool's workflow)
    #: as the gateway builds an endpoint's; ``None`` for it when it has errors (collected, reported)
    workflow: Callable[[EndpointConfig], Awaitable[Proxy | None]] | None = None

    def options(self, owner: str, namespace: str) -> object | None:
        """The parsed value of ``namespace`` on the object at ``owner`` (``endpoints[2]``), if any."""
        return self.parsed.get(owner, {}).get(namespace)
