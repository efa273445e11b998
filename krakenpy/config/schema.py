"""JSON-Schema validation of a configuration document against ``schemas/``.

The validator is built once (first use) over a ``referencing.Registry`` holding every file of the
``schemas/`` folder; this module is the only code that knows where that folder is.

Two modes:

- ``lint=True`` is ``krakend check --lint``: unknown keys are errors everywhere.
- ``lint=False`` is plain ``krakend check``, which decodes the file leniently: unknown keys, a missing
  backend ``url_pattern`` (lura defaults it to "") and unknown enum values outside the namespaces
  krakenpy implements (KrakenD falls back to a default) are not reported.

The namespaces krakenpy implements fail closed in both modes: a bad type or a bad value there is
always an error, and an unknown key is an error in ``backend/lambda`` and ``modifier/lua-*`` (a
typo there must not be ignored) and a warning in ``proxy``, ``router`` and ``backend/http``, whose
legacy aliases carry keys of older KrakenD versions that KrakenD itself ignores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from krakenpy.errors import ConfigIssue

__all__ = ["schema_namespaces", "validate_document"]

_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
_BASE_URI = "https://krakenpy.invalid/schemas/"
_ROOT = "krakend.json"
#: files that describe core objects, not an ``extra_config`` namespace
_CORE_FILES = frozenset({"krakend", "endpoint", "backend", "timeunits"})
#: one schema file shared by several namespaces
_SHARED_FILES: Mapping[str, tuple[str, ...]] = {
    "modifier/lua": ("modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend"),
}
#: unknown keys are errors in both modes
_STRICT_NAMESPACES = frozenset(
    {"backend/lambda", "modifier/lua-endpoint", "modifier/lua-proxy", "modifier/lua-backend"}
)
#: unknown keys are warnings when not linting; every other error stays an error
_CHECKED_NAMESPACES = frozenset({"proxy", "router", "backend/http"})
_BACKEND_PATH = re.compile(r"^(endpoints|async_agent)\[\d+\]\.backend\[\d+\]$")


def _schema_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(_SCHEMA_DIR.rglob("*.json")):
        yield path.relative_to(_SCHEMA_DIR).as_posix(), path


@cache
def _validator() -> Draft202012Validator:
    resources: list[tuple[str, Resource[Any]]] = []
    for rel, path in _schema_files():
        contents = orjson.loads(path.read_bytes())
        resources.append((_BASE_URI + rel, Resource.from_contents(contents, default_specification=DRAFT202012)))
    registry: Registry[Any] = Registry().with_resources(resources)
    root = registry.contents(_BASE_URI + _ROOT)
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root, registry=registry)


@cache
def schema_namespaces() -> frozenset[str]:
    """The ``extra_config`` namespaces that have a schema file (``backend/lambda``, ``modifier/lua-proxy``...)."""
    names: set[str] = set()
    for rel, _ in _schema_files():
        stem = rel.removesuffix(".json")
        if stem in _CORE_FILES:
            continue
        names.update(_SHARED_FILES.get(stem, (stem,)))
    return frozenset(names)


def json_path(parts: Iterable[str | int]) -> str:
    """``["endpoints", 3, "backend", 0, "host"]`` -> ``endpoints[3].backend[0].host``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _namespace(parts: Sequence[str | int]) -> str | None:
    """The ``extra_config`` namespace an error sits in, if any."""
    for i, part in enumerate(parts[:-1]):
        if part == "extra_config":
            nxt = parts[i + 1]
            return nxt if isinstance(nxt, str) else None
    return None


def _unexpected_keys(error: ValidationError) -> list[str]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]


def _message(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-message")
    if isinstance(custom, str):
        return custom.replace("{instance}", orjson.dumps(error.instance, default=repr).decode())
    if error.validator in ("oneOf", "anyOf") and error.context:
        return str(best_match(error.context).message)
    return str(error.message)


def _issues(error: ValidationError, *, lint: bool) -> Iterator[ConfigIssue]:
    parts: list[str | int] = list(error.absolute_path)
    path = json_path(parts)
    namespace = _namespace(parts)
    if error.validator == "additionalProperties":
        if lint or namespace in _STRICT_NAMESPACES:
            severity: Literal["error", "warning"] = "error"
        elif namespace in _CHECKED_NAMESPACES:
            severity = "warning"
        else:
            return  # plain `krakend check` ignores unknown keys
        message = "unknown key" if severity == "error" else "unknown key: ignored"
        for key in _unexpected_keys(error):
            yield ConfigIssue(f"{path}.{key}" if path else key, message, severity)
        return
    if not lint and namespace not in _STRICT_NAMESPACES | _CHECKED_NAMESPACES:
        if error.validator == "enum":
            return  # KrakenD falls back to its default for values it does not know
        if error.validator == "required" and _BACKEND_PATH.match(path) and "'url_pattern'" in error.message:
            return  # lura defaults a missing url_pattern to ""
    yield ConfigIssue(path, _message(error))


def validate_document(doc: object, *, lint: bool) -> list[ConfigIssue]:
    """Every schema problem of ``doc``, each located by its JSON path (the root is "")."""
    issues: list[ConfigIssue] = []
    for error in _validator().iter_errors(doc):
        issues.extend(_issues(error, lint=lint))
    return issues
