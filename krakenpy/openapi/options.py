"""``documentation/openapi`` values parsed: the raw fields (the JSON Schema checked their shapes) and
the schemas given as base64 text decoded once, with the cross-field rules the schema cannot express."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["DocOptions", "parse_doc"]


@dataclass(frozen=True, slots=True)
class DocOptions:
    """One ``documentation/openapi`` value: its fields, and every ``example_schema`` / component schema
    as a JSON object (decoded from base64 when given as text)."""

    raw: Mapping[str, Any]
    #: components_schemas, decoded
    schemas: Mapping[str, Any] = field(default_factory=dict)
    #: (``request`` index | ``response`` status) → decoded example_schema
    request_schemas: Mapping[int, Any] = field(default_factory=dict)
    response_schemas: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the value."""
        return self.raw.get(key, default)


def _schema(value: Any, path: str, issues: list[ConfigIssue]) -> Any:
    """A schema given as an object, or as base64 text of one."""
    if not isinstance(value, str):
        return value
    try:
        decoded = orjson.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        issues.append(ConfigIssue(path, "not base64 text of a JSON Schema"))
        return None
    if not isinstance(decoded, dict | bool):
        issues.append(ConfigIssue(path, "the decoded text is not a JSON Schema (an object)"))
        return None
    return decoded


def _bodies(items: Sequence[Mapping[str, Any]], path: str, issues: list[ConfigIssue]) -> dict[int, Any]:
    seen: set[str] = set()
    schemas: dict[int, Any] = {}
    for i, item in enumerate(items):
        content_type = str(item.get("content_type", ""))
        if content_type in seen:
            issues.append(ConfigIssue(f"{path}[{i}].content_type", f"{content_type!r} is documented twice"))
        seen.add(content_type)
        if "example_schema" in item:
            if "example" in item:
                issues.append(ConfigIssue(f"{path}[{i}]", "use example or example_schema, not both"))
            schemas[i] = _schema(item["example_schema"], f"{path}[{i}].example_schema", issues)
    return schemas


def parse_doc(raw: Mapping[str, Any], path: str, *, params: Sequence[str] | None = None) -> DocOptions:
    """Check and decode one value at ``path``; ``params`` are the endpoint's path parameters (a
    ``param_definition`` naming another is a mistake; ``None`` at service level). Raises
    :class:`ConfigError` with every issue."""
    issues: list[ConfigIssue] = []
    schemas = {
        name: _schema(value, f"{path}.components_schemas.{name}", issues)
        for name, value in (raw.get("components_schemas") or {}).items()
    }
    if params is not None:
        for i, item in enumerate(raw.get("param_definition") or ()):
            if item.get("name") not in params:
                known = ", ".join(params) or "none"
                issues.append(
                    ConfigIssue(f"{path}.param_definition[{i}].name", f"not a parameter of the endpoint ({known})")
                )
    request_schemas = _bodies(raw.get("request_definition") or (), f"{path}.request_definition", issues)
    response_schemas: dict[str, Any] = {}
    for status, item in (raw.get("response_definition") or {}).items():
        if not isinstance(item, Mapping) or "example_schema" not in item:
            continue
        if "example" in item:
            issues.append(
                ConfigIssue(f"{path}.response_definition.{status}", "use example or example_schema, not both")
            )
        response_schemas[status] = _schema(item["example_schema"], f"{path}.response_definition.{status}", issues)
    if issues:
        raise ConfigError(issues)
    return DocOptions(raw, schemas, request_schemas, response_schemas)
