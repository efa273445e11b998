"""Configuration: file → document → schema and init checks → :class:`ServiceConfig`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from krakenpy.config.loader import apply_env_overrides, read_document
from krakenpy.config.model import BackendConfig, EndpointConfig, ServiceConfig, build_service
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = [
    "BackendConfig",
    "EndpointConfig",
    "LoadedConfig",
    "ServiceConfig",
    "load_service",
]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    service: ServiceConfig
    warnings: tuple[ConfigIssue, ...]
    #: JSON paths of access-control namespaces krakenpy does not implement (``run`` refuses them)
    enforcing: tuple[str, ...] = ()


def load_service(path: str | os.PathLike[str], *, lint: bool = False, use_env: bool = True) -> LoadedConfig:
    """The only entry point: read, normalise, validate and build. Raises :class:`ConfigError`."""
    from krakenpy.config.coerce import coerce_weak
    from krakenpy.config.namespaces import enforcing_namespaces, namespace_warnings, normalize_aliases
    from krakenpy.config.schema import validate_document

    source = os.fspath(path)
    doc = read_document(path)
    if use_env:
        apply_env_overrides(doc)
    normalize_aliases(doc)
    coerce_weak(doc)
    issues = [i for i in validate_document(doc, lint=lint) if i.severity == "error"]
    warnings = namespace_warnings(doc)
    try:
        service = build_service(doc, source=source)
    except ConfigError as exc:
        issues.extend(i for i in exc.issues if str(i) not in {str(j) for j in issues})
        raise ConfigError(issues, source) from None
    if issues:
        raise ConfigError(issues, source)
    # component-level checks (Lua sources, Lambda options...) run when the pipeline is compiled
    return LoadedConfig(service=service, warnings=tuple(warnings), enforcing=tuple(enforcing_namespaces(doc)))
