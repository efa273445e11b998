"""``documentation/postman`` values: the collection's ``name``, ``description``, ``version`` and
described ``folder`` s at service level; an endpoint's ``name``, ``description`` and ``folder``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["EndpointDoc", "ServiceDoc", "folder_path", "parse_endpoint_doc", "parse_service_doc"]


@dataclass(frozen=True, slots=True)
class ServiceDoc:
    """The collection: its info, and folder path → description."""

    name: str = ""
    description: str = ""
    version: str = ""
    folders: tuple[tuple[tuple[str, ...], str], ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointDoc:
    """One endpoint's request in the collection."""

    name: str = ""
    description: str = ""
    folder: tuple[str, ...] = ()


def folder_path(text: str) -> tuple[str, ...]:
    """``"/Protocol Conversion/gRPC"`` → ``("Protocol Conversion", "gRPC")`` (empty parts dropped)."""
    return tuple(part.strip() for part in text.split("/") if part.strip())


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def parse_service_doc(raw: Any, path: str) -> ServiceDoc:
    """A service-level value → options; a folder without a name, or declared twice, is an error."""
    raw = raw if isinstance(raw, Mapping) else {}
    issues: list[ConfigIssue] = []
    folders: dict[tuple[str, ...], str] = {}
    items = raw.get("folder")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = item if isinstance(item, Mapping) else {}
        parts = folder_path(_text(item, "name"))
        if not parts:
            issues.append(ConfigIssue(f"{path}.folder[{i}].name", "a folder needs a name"))
        elif parts in folders:
            issues.append(ConfigIssue(f"{path}.folder[{i}].name", f"folder {'/'.join(parts)!r} is declared twice"))
        else:
            folders[parts] = _text(item, "description")
    if issues:
        raise ConfigError(issues)
    version = raw.get("version")
    return ServiceDoc(
        name=_text(raw, "name"),
        description=_text(raw, "description"),
        version=str(version) if isinstance(version, str | int | float) and not isinstance(version, bool) else "",
        folders=tuple(folders.items()),
    )


def parse_endpoint_doc(raw: Any) -> EndpointDoc:
    """An endpoint-level value → options."""
    raw = raw if isinstance(raw, Mapping) else {}
    return EndpointDoc(_text(raw, "name"), _text(raw, "description"), folder_path(_text(raw, "folder")))
