"""Checking a new configuration before any worker touches it (supervisor side), and telling whether a
worker read the same file the supervisor checked.

A candidate must load, pass the runtime settings, keep what only a restart can change (listen
address, TLS on/off, the curve) and build completely (Lua sources, Lambda clients...) without
serving; otherwise the reload is refused with every problem at its JSON path and the running
configuration keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import orjson

from krakenpy.config.model import ServiceConfig
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.server.runner import Config, ConfigSource, ServeOptions
from krakenpy.server.settings import RuntimeSettings, restart_changes, runtime_settings
from krakenpy.tasks import loop_ended

__all__ = ["Candidate", "config_digest", "validate"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configuration every worker may switch to."""

    config: Config
    settings: RuntimeSettings
    digest: str
    warnings: tuple[ConfigIssue, ...]


def config_digest(service: ServiceConfig) -> str:
    """A fingerprint of the document a configuration was built from (after environment overrides)."""
    data = orjson.dumps(service.raw, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()[:16]


def _built_warning(text: str) -> ConfigIssue:
    """A component's build warning (``path: message``, :attr:`Resources.warnings`) as an issue."""
    path, _, message = text.partition(": ")
    return ConfigIssue(path, message, "warning")


async def _build_check(source: ConfigSource, config: Config) -> tuple[str, ...]:
    gateway = await source.build(config, serving=False)
    await gateway.close()
    return gateway.warnings


def validate(source: ConfigSource, current: RuntimeSettings, options: ServeOptions) -> Candidate | list[str]:
    """The new configuration as a :class:`Candidate`, or the reasons it is refused."""
    try:
        config = source.load()
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    settings, errors, warnings = runtime_settings(
        config.service, allow_unsupported=options.allow_unsupported, port=options.port_override
    )
    if settings is None:
        return [str(issue) for issue in errors]
    changes = restart_changes(current, settings)
    if changes:
        return [f"{change}: needs a restart" for change in changes]
    try:
        built = asyncio.run(_build_check(source, config))
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    finally:
        loop_ended()
    found = (*config.warnings, *warnings, *map(_built_warning, built))
    return Candidate(config, settings, config_digest(config.service), found)
