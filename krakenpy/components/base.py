"""What a component is: one ``extra_config`` namespace with a pure ``parse`` and, per layer it acts
in, a ``build`` that runs once at start-up.

A component module declares one :class:`Component` value named ``COMPONENT``; the registry
(:mod:`krakenpy.components.registry`) lists the components of each layer in order. The layers,
outermost first (krakend-ce's order, see the README's Architecture section):

========== ================================================= =========================================
layer      wraps                                             builder returns
========== ================================================= =========================================
edge       the whole dispatch, incl. 404/405, ``/__health``  :data:`~krakenpy.edge.EdgeMiddleware`
endpoint   one endpoint's handler, before input filtering     :data:`~krakenpy.proxy.types.Middleware`
proxy      the endpoint's proxy stack                        :data:`~krakenpy.proxy.types.Middleware`
backend    one backend's stack (inside the request builder)  :data:`~krakenpy.proxy.types.Middleware`
client     one backend's upstream HTTP call                  :data:`~krakenpy.backends.client.ClientMiddleware`
executor   the call itself (first that applies; else HTTP)   :data:`~krakenpy.proxy.types.Proxy`
agent      an ``async_agent``'s driver (first that applies)   :data:`~krakenpy.asyncagent.types.Driver`
========== ================================================= =========================================

Rules every component follows:

- The JSON Schema (``schemas/<namespace>.json``) owns types, enums and messages; ``parse`` converts
  and checks cross-field rules only, raising :class:`~krakenpy.errors.ConfigError` with JSON paths.
  ``parse`` is pure (no I/O): ``check --skip-components`` still runs it.
- ``build`` runs once at start-up (I/O allowed: files, key sets, clients) and returns ``None`` when
  there is nothing to do, so an unused feature costs nothing per request.
- A service-level value's ``endpoint`` builder is built once and wraps every endpoint, outside the
  endpoint-level middlewares (gin engine middleware vs handler wrapper).
- The ``edge`` builder runs once per gateway (see :data:`EdgeBuild`); parsed values of every level are
  on ``resources.parsed`` (owner JSON path → namespace → options).
- Shared state goes through :class:`~krakenpy.state.Key` s on ``resources.state``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from krakenpy.asyncagent.types import Driver
from krakenpy.backends.client import ClientMiddleware
from krakenpy.config.model import BackendConfig, EndpointConfig, ServiceConfig
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy
from krakenpy.resources import Resources

__all__ = [
    "LAYERS",
    "Component",
    "Edition",
    "Layer",
    "Level",
    "Site",
]

#: ``agent``: an ``async_agent`` object (its ``extra_config`` holds the driver)
Level: TypeAlias = Literal["service", "endpoint", "backend", "agent"]
Layer: TypeAlias = Literal["edge", "endpoint", "proxy", "backend", "client", "executor", "agent"]
#: who defines the namespace: KrakenD CE, KrakenD Enterprise (krakenpy implements it with EE's field
#: names), or krakenpy alone (``check --lint`` says so)
Edition: TypeAlias = Literal["ce", "ee", "krakenpy"]
LAYERS: tuple[Layer, ...] = ("edge", "endpoint", "proxy", "backend", "client", "executor", "agent")

Opts = TypeVar("Opts")
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Site:
    """Where one namespace value sits: its level, its JSON path and the configuration around it."""

    level: Level
    #: JSON path of the namespace value (``endpoints[2].extra_config.auth/validator``)
    path: str
    service: ServiceConfig
    endpoint: EndpointConfig | None = None
    backend: BackendConfig | None = None
    #: warnings a ``parse`` leaves for a value KrakenD runs with a degraded behaviour (``check`` and
    #: ``run`` print them; ``check --lint`` makes them errors)
    notes: list[ConfigIssue] = field(default_factory=list, compare=False)
    #: warnings a parse leaves that ``check --lint`` keeps as warnings: a value KrakenD takes as it is,
    #: of which krakenpy only points out a consequence (``check``, with or without
    #: ``--skip-components``, and ``run`` print them)
    advice: list[ConfigIssue] = field(default_factory=list, compare=False)

    def at(self, *keys: str | int) -> str:
        """The JSON path of a field inside the value: ``site.at("roles", 0)``."""
        out = self.path
        for key in keys:
            out += f"[{key}]" if isinstance(key, int) else f".{key}"
        return out

    @property
    def owner(self) -> str:
        """JSON path of the object holding the ``extra_config`` ("" for the service)."""
        return self.path.rpartition(".extra_config.")[0] if ".extra_config." in self.path else ""


#: ``build(options, site, resources)``: once at start-up; ``None`` when there is nothing to do
Build: TypeAlias = Callable[[Opts, Site, Resources], Awaitable[M | None]]
#: the edge builder runs once when the namespace appears at any level; ``options`` is the
#: service-level value, or ``None`` when only endpoints declare it (endpoint-level values are on
#: ``resources.parsed``)
EdgeBuild: TypeAlias = Callable[[Opts | None, Site, Resources], Awaitable[EdgeMiddleware | None]]


@dataclass(frozen=True, slots=True)
class Component(Generic[Opts]):
    """One namespace: its levels, its parse, and a builder per layer it acts in."""

    namespace: str
    levels: frozenset[Level]
    #: ``parse(raw, site) -> options``: pure; raises ConfigError with JSON paths
    parse: Callable[[Any, Site], Opts]
    #: one line for ``check``, ``routes`` and the README
    summary: str
    edition: Edition = "ce"
    edge: EdgeBuild[Opts] | None = None
    endpoint: Build[Opts, Middleware] | None = None
    proxy: Build[Opts, Middleware] | None = None
    backend: Build[Opts, Middleware] | None = None
    client: Build[Opts, ClientMiddleware] | None = None
    executor: Build[Opts, Proxy] | None = None
    #: an async agent's driver: consumes its queue into the agent's pipe (first that applies)
    agent: Build[Opts, Driver] | None = None
    #: read by the core itself (``router``, ``proxy``, ``backend/http``): parsed here, no builder
    core: bool = False
    #: unknown keys are errors even without ``--lint`` (a typo there must not pass silently)
    strict: bool = True
    #: built for every owner of its layers even where the namespace is absent (the builder then
    #: gets ``None``): features on by default, such as the access log and failure logging
    always: bool = False
    #: fields accepted and not acted on: field → why (syntax in :mod:`krakenpy.config.ignored`);
    #: ``check`` and ``run`` warn at each one set, and its schema description says the same why
    ignored: Mapping[str, str] = field(default_factory=dict)

    def builder(self, layer: Layer) -> Build[Opts, Any] | None:
        value: Build[Opts, Any] | None = getattr(self, layer)
        return value

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in LAYERS if self.builder(layer) is not None)
