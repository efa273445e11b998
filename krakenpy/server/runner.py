"""Serve a configuration in production: a supervisor process and N workers sharing the port.

- The supervisor (:mod:`krakenpy.server.supervisor`) opens the listening sockets, forks the workers,
  replaces a worker that dies (with back-off; it gives up with exit 1 when one crash-loops), reloads
  on ``SIGHUP`` (and on file changes with ``--watch``) and drains everything on ``SIGTERM``/``SIGINT``.
- Each worker (:mod:`krakenpy.server.worker`) compiles the gateway, serves it, swaps in a new one on
  reload while in-flight requests finish on the old one, and exits when its parent dies.

The CLI hands over a :class:`ConfigSource`: how to (re)read and compile the configuration.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from typing import Protocol

from krakenpy.config.model import ServiceConfig
from krakenpy.edge import EdgeHandler
from krakenpy.errors import ConfigIssue
from krakenpy.server.settings import RuntimeSettings

__all__ = ["Config", "ConfigSource", "ServeOptions", "Served", "serve"]

log = logging.getLogger("krakenpy")


class Served(Protocol):
    """What the runner serves: a compiled gateway (:class:`krakenpy.gateway.Gateway`)."""

    @property
    def edge(self) -> EdgeHandler: ...

    @property
    def endpoints(self) -> int: ...

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the components found while building, each naming its JSON path."""
        ...

    @property
    def telemetry_listeners(self) -> bool:
        """Whether :meth:`listen` has listeners to bind."""
        ...

    async def listen(self) -> None:
        """Bind the telemetry listeners (``/__stats``, Prometheus exporters), before the gateway's port
        accepts; :meth:`start` binds those not bound yet."""
        ...

    async def start(self, *, agents: bool = True) -> None:
        """Start what runs beside the requests (telemetry exporters and listeners), once serving; the
        async agents too unless ``agents`` is False."""
        ...

    def swapped(self, old: object = None) -> None:
        """A reload's server answers every new request with this gateway from now on, instead of ``old``."""
        ...

    def take_listeners(self, old: object) -> None:
        """Take over the telemetry listeners ``old`` (the gateway this one replaces) has bound."""
        ...

    async def close(self) -> None: ...


class Config(Protocol):
    """A configuration read and checked (:class:`krakenpy.gateway.Loaded`)."""

    @property
    def service(self) -> ServiceConfig: ...

    @property
    def warnings(self) -> tuple[ConfigIssue, ...]: ...


class ConfigSource(Protocol):
    """How to read and compile the configuration, at start and on every reload."""

    def load(self) -> Config:
        """Read and check the file again; raises :class:`~krakenpy.errors.ConfigError` with every
        problem, including what ``run`` refuses (unimplemented access control...)."""
        ...

    async def build(self, config: Config, *, serving: bool) -> Served:
        """Compile ``config``; ``serving=False`` builds only to find errors (no listener, no task)."""
        ...

    def watched(self, config: Config) -> list[str]:
        """The files whose change means a reload with ``--watch`` (the config, its Lua sources...)."""
        ...

    def accepted(self, config: Config) -> None:
        """A reload's ``config`` replaces the running one: the supervisor's own lines mask with
        its redaction from now on."""
        ...


@dataclass(frozen=True, slots=True)
class ServeOptions:
    debug: bool = False
    workers: int = 1
    access_log: bool = False
    #: ``auto`` (uvloop where it imports), ``uvloop`` or ``asyncio``: :mod:`krakenpy.server.loops`
    loop: str = "auto"
    #: reload when a watched file changes
    watch: bool = False
    #: ``run -p``: the port whatever the config says (0: the config's)
    port_override: int = 0
    allow_unsupported: bool = False


def serve(config: Config, settings: RuntimeSettings, options: ServeOptions, source: ConfigSource) -> int:
    """Run until ``SIGTERM``/``SIGINT``; returns the exit code (0 after a clean drain)."""
    from krakenpy.server.listen import bind_slots, raise_open_file_limit
    from krakenpy.server.loops import LoopUnavailable, resolve_loop
    from krakenpy.server.supervisor import Supervisor

    try:  # once, before forking: the workers inherit the choice (and the imported uvloop)
        options = replace(options, loop=resolve_loop(options.loop))
    except LoopUnavailable as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    raise_open_file_limit()
    from krakenpy.fingerprint import process_key

    # drawn once, before forking: without a configured fingerprint key the workers share this one,
    # so a credential's fingerprint (an API key's key_id) reads alike on every worker of the instance
    process_key()
    try:
        slots = bind_slots(settings.host, settings.port, max(1, options.workers))
    except OSError as exc:
        print(f"ERROR: cannot listen on port {settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return Supervisor(config, settings, options, source, slots).run()
