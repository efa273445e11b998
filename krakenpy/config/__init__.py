"""Configuration: file → document → schema and init checks → :class:`ServiceConfig`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from krakenpy.config.build import build_service, build_service_anyway
from krakenpy.config.loader import apply_env_overrides, read_document
from krakenpy.config.model import BackendConfig, EndpointConfig, ServiceConfig
from krakenpy.config.namespaces import Catalog
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = [
    "BackendConfig",
    "Catalog",
    "EndpointConfig",
    "LoadedConfig",
    "ServiceConfig",
    "build_service",
    "load_service",
]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    service: ServiceConfig
    warnings: tuple[ConfigIssue, ...]
    #: JSON paths of access-control namespaces krakenpy does not implement (``run`` refuses them)
    enforcing: tuple[str, ...] = ()
    #: the errors found, when the caller asked to go on past them (``keep_going``: ``check``)
    errors: tuple[ConfigIssue, ...] = ()


def _blame_env(issues: list[ConfigIssue], overrides: dict[str, str]) -> list[ConfigIssue]:
    """Name the ``KRAKEND_*`` variable when a top-level key it set is the problem."""
    if not overrides:
        return issues
    out: list[ConfigIssue] = []
    for issue in issues:
        key = issue.path.split(".", 1)[0].split("[", 1)[0]
        variable = overrides.get(key)
        if variable is not None:
            issue = ConfigIssue(
                issue.path, f"{issue.message} (set by the environment variable {variable})", issue.severity
            )
        out.append(issue)
    return out


def load_service(
    path: str | os.PathLike[str],
    *,
    catalog: Catalog,
    lint: bool = False,
    use_env: bool = True,
    keep_going: bool = False,
) -> LoadedConfig:
    """Read, normalise, validate and build. Raises :class:`ConfigError` with every error found.

    ``catalog`` says which namespaces krakenpy implements (the registry's); component options are
    parsed afterwards by the assembly (:func:`krakenpy.gateway.load`). With ``keep_going`` (``check``),
    the schema's and the model's errors are returned on :attr:`LoadedConfig.errors` with the service
    as built despite them (:func:`~krakenpy.config.build.build_service_anyway`), so the later checks
    (components, Lua, files) can report theirs in the same run; a file that cannot be read still
    raises.
    """
    from krakenpy.config.coerce import coerce_weak
    from krakenpy.config.ignored import document_ignored
    from krakenpy.config.namespaces import enforcing_namespaces, namespace_issues, normalize_aliases
    from krakenpy.config.schema import validate_document

    source = os.fspath(path)
    doc = read_document(path)
    overrides = apply_env_overrides(doc) if use_env else {}
    normalize_aliases(doc)
    found = coerce_weak(doc, lint=lint, env=overrides.keys())
    found += validate_document(doc, lint=lint, catalog=catalog) + namespace_issues(doc, catalog, lint=lint)
    issues = [i for i in found if i.severity == "error"]
    warnings = [i for i in found if i.severity == "warning"] + document_ignored(doc)
    service: ServiceConfig | None = None
    try:
        service, built = build_service_anyway(doc, source=source, env_overrides=overrides)
    except ConfigError as exc:
        built = list(exc.issues)
    if built:
        # one report per path (the schema already said what is wrong there); a set keeps this linear
        seen = {i.path for i in issues}
        issues.extend(i for i in built if i.path not in seen)
    if service is None or (issues and not keep_going):
        raise ConfigError(_blame_env(issues, overrides), source, _blame_env(warnings, overrides))
    return LoadedConfig(
        service=service,
        warnings=tuple(_blame_env(warnings, overrides)),
        enforcing=tuple(enforcing_namespaces(doc, catalog)),
        errors=tuple(_blame_env(issues, overrides)),
    )
