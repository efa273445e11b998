"""The service settings the process and its listener act on (``tls``, the server limits, ``plugin``),
checked once for ``check``, for ``run`` and for every reload. Nothing here is ignored silently: a
setting krakenpy cannot honour is an error, or a warning that says what happens instead (top-level
fields with no effect at all, ``use_h2c``..., are listed in :mod:`krakenpy.config.ignored`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.config.model import ServiceConfig
from krakenpy.config.namespaces import BUILT_IN_PLUGINS, plugin_names
from krakenpy.errors import ConfigIssue
from krakenpy.server.limits import ServerLimits, server_limits
from krakenpy.server.tls import TlsOptions, parse_tls

__all__ = ["RuntimeSettings", "restart_changes", "runtime_settings"]


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """What the listener and the workers need from a configuration."""

    limits: ServerLimits
    tls: TlsOptions | None
    host: str
    port: int


def _extra_configs(raw: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(owner path, extra_config) for the service, endpoints, agents and their backends."""
    extra = raw.get("extra_config")
    if isinstance(extra, Mapping):
        yield "", extra
    for key in ("endpoints", "async_agent"):
        owners = raw.get(key)
        for i, owner in enumerate(owners if isinstance(owners, list) else []):
            if not isinstance(owner, Mapping):
                continue
            if isinstance(owner.get("extra_config"), Mapping):
                yield f"{key}[{i}]", owner["extra_config"]
            backends = owner.get("backend")
            for j, backend in enumerate(backends if isinstance(backends, list) else []):
                if isinstance(backend, Mapping) and isinstance(backend.get("extra_config"), Mapping):
                    yield f"{key}[{i}].backend[{j}]", backend["extra_config"]


def _plugin_issues(raw: Mapping[str, Any], allow_unsupported: bool) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
    """Go plugins cannot run in Python; krakenpy builds in the well-known Enterprise ones
    (:data:`~krakenpy.config.namespaces.BUILT_IN_PLUGINS`). A plugin a ``plugin/*`` namespace names
    that is not built in would be skipped (often authentication): refused unless
    ``--allow-unsupported`` when the ``plugin`` block loads plugins, a warning without it (KrakenD
    loads none then either). The block itself is never read: said once, as a warning."""
    named = [
        (f"{owner}.extra_config.{ns}" if owner else f"extra_config.{ns}", name)
        for owner, extra in _extra_configs(raw)
        for ns, value in extra.items()
        if ns.startswith("plugin/")
        for name in plugin_names(value)
    ]
    missing = [(path, name) for path, name in named if name not in BUILT_IN_PLUGINS.get(path.rsplit(".", 1)[-1], ())]
    built_in = sorted({name for _, name in named} - {name for _, name in missing})
    users = list(dict.fromkeys(f"{path} ({name})" for path, name in missing))
    shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
    if "plugin" not in raw:
        if not missing:
            return [], []
        by_path: dict[str, list[str]] = {}
        for path, name in missing:
            by_path.setdefault(path, []).append(name)
        return [], [
            ConfigIssue(
                path,
                f"Go plugin(s) {', '.join(names)} not built into krakenpy, and no plugin block loads "
                "them: no effect, as in KrakenD",
                "warning",
            )
            for path, names in by_path.items()
        ]
    if not missing:
        why = f"krakenpy builds in {', '.join(built_in)}" if built_in else "no plugin/* namespace names a plugin"
        return [], [
            ConfigIssue("plugin", f"the folder is not read: nothing in this config needs it ({why})", "warning")
        ]
    message = f"Go plugins cannot be loaded by krakenpy, so what they do for {shown} would be skipped"
    if allow_unsupported:
        return [], [ConfigIssue("plugin", f"{message} (accepted by --allow-unsupported)", "warning")]
    return [ConfigIssue("plugin", f"{message}: refused (see --allow-unsupported)")], []


def runtime_settings(
    service: ServiceConfig, *, files: bool = True, allow_unsupported: bool = False, port: int = 0
) -> tuple[RuntimeSettings | None, list[ConfigIssue], list[ConfigIssue]]:
    """``(settings, errors, warnings)``; settings are ``None`` when there are errors. ``files=False``
    (``check --skip-components``) checks the ``tls`` block without opening its files; ``port``
    overrides the configured one (``run -p``)."""
    raw = service.raw
    tls, errors, warnings = parse_tls(raw.get("tls"))
    if tls is not None and files:
        from krakenpy.server.tlscontext import check_tls  # cryptography: only for TLS configs

        file_errors, file_warnings = check_tls(tls)
        errors += file_errors
        warnings += file_warnings
    plugin_errors, plugin_warnings = _plugin_issues(raw, allow_unsupported)
    errors += plugin_errors
    warnings += plugin_warnings
    if errors:
        return None, errors, warnings
    return RuntimeSettings(server_limits(service), tls, service.listen_ip, port or service.port), errors, warnings


def restart_changes(old: RuntimeSettings, new: RuntimeSettings) -> list[str]:
    """What differs between two settings that a running process cannot apply (a reload refuses them)."""
    changes: list[str] = []
    if (old.host, old.port) != (new.host, new.port):
        changes.append(f"listen address {old.host or '*'}:{old.port} → {new.host or '*'}:{new.port}")
    if (old.tls is None) != (new.tls is None):
        changes.append("TLS " + ("turned on" if new.tls is not None else "turned off"))
    elif old.tls is not None and new.tls is not None and old.tls.curve != new.tls.curve:
        changes.append("tls.curve_preferences")
    return changes
