"""JSON-Schema validation of a configuration document against ``schemas/``.

The validator is built once (first use) over a ``referencing.Registry`` holding every file of the
``schemas/`` folder. A quick check runs first: the same schemas compiled by jsonschema-rs (Rust),
which only says valid or not; a valid document (the common case at start-up) is done there, without
importing jsonschema (~320 M instructions of every start, P7), any other goes through the full
validator for its located, worded issues and warnings (tests keep the two verdicts in step).

This module is the only code that knows where the schemas folder is: inside the installed package
(``krakenpy/schemas``, copied there when a wheel is built), looked for on disk beside the package
first (``importlib.resources`` only for a package that is not a folder: it imports ``zipfile``), else
the source tree's top-level ``schemas/`` (editable installs, checkouts).

Two modes:

- ``lint=True`` is ``krakend check --lint``: unknown keys are errors everywhere.
- ``lint=False`` is plain ``krakend check``, which decodes the file leniently: unknown keys, a missing
  backend ``url_pattern`` (lura defaults it to "") and unknown enum values outside the namespaces
  krakenpy implements (KrakenD falls back to a default) are not reported.

The namespaces krakenpy implements fail closed in both modes: a bad type or a bad value there is
always an error, and an unknown key is an error in the namespaces the catalog marks strict (a typo
there must not be ignored: ``backend/lambda``, ``modifier/lua-*`` ...) and a warning in the core's
own (``proxy``, ``router``, ``backend/http``), whose legacy aliases carry keys of older KrakenD
versions that KrakenD itself ignores. Everywhere else an unknown key is a warning with a "did you
mean" hint (``url_patern``), or an error with ``--lint``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from krakenpy.config.keypath import key_path
from krakenpy.config.namespaces import Catalog, close_matches
from krakenpy.errors import ConfigIssue

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from jsonschema_rs import Validator

__all__ = ["quick_validator", "schema_namespaces", "schema_root", "validate_document"]

#: the package's folder (an installed package carries ``schemas/`` there) and the source tree's, used
#: when the package carries no copy (editable installs)
_PACKAGE = Path(__file__).absolute().parents[1]
_SOURCE_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_BASE_URI = "https://krakenpy.invalid/schemas/"
_ROOT = "krakend.json"
#: files that are not an ``extra_config`` namespace: core objects and definitions shared by several
#: namespaces (the three Lua namespaces ``$ref`` ``modifier/lua.json``)
_NOT_NAMESPACES = frozenset({"krakend", "endpoint", "backend", "timeunits", "modifier/lua"})
_BACKEND_PATH = re.compile(r"^(endpoints|async_agent)\[\d+\]\.backend\[\d+\]$")
#: a config key whose value may be a secret, lower-case without ``_`` and ``-``, and the keys whose
#: members' values may be: a schema message there never quotes the value (``check`` output lands in
#: CI logs)
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|key)$")
_SECRET_HOLDERS = frozenset({"users", "credentials"})


def _plain(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


@cache
def schema_root() -> Traversable:
    """The folder holding ``krakend.json`` and the namespace schemas (package data first)."""
    # the package's folder on disk, as pip installs it, else the source tree's: importlib.resources
    # would import its readers (and zipfile) at every start to find the same folders (P7); it is
    # asked only for a package that is not plain files
    for folder in (_PACKAGE / "schemas", _SOURCE_SCHEMAS):
        if folder.is_dir():
            return folder
    from importlib import resources

    packaged = resources.files("krakenpy").joinpath("schemas")
    if packaged.is_dir():
        return packaged
    raise RuntimeError("krakenpy's JSON schemas are missing from this installation: reinstall krakenpy")


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for child in sorted(folder.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            yield from _walk(child, f"{prefix}{child.name}/")
        elif child.name.endswith(".json"):
            yield prefix + child.name, child


def _schema_files() -> Iterator[tuple[str, Traversable]]:
    yield from _walk(schema_root(), "")


@cache
def _documents() -> tuple[tuple[str, Any], ...]:
    """(URI, parsed JSON) of every schema file."""
    return tuple((_BASE_URI + rel, orjson.loads(path.read_bytes())) for rel, path in _schema_files())


@cache
def quick_validator() -> Validator:
    """The same schemas under jsonschema-rs (Rust), which only says whether a document is valid."""
    from jsonschema_rs import Draft202012Validator as Quick
    from jsonschema_rs import Registry as QuickRegistry

    documents = _documents()
    root = dict(documents)[_BASE_URI + _ROOT]
    # formats are annotations, as for the validator below (no format checker)
    return Quick(root, registry=QuickRegistry(list(documents)), validate_formats=False)


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources: list[tuple[str, Resource[Any]]] = []
    for uri, contents in _documents():
        resources.append((uri, Resource.from_contents(contents, default_specification=DRAFT202012)))
    registry: Registry[Any] = Registry().with_resources(resources)
    root = registry.contents(_BASE_URI + _ROOT)
    # no check_schema() here: the bundled files are fixed, and tests/config/test_schema.py checks each
    # against the metaschema; at start-up that check cost ~120 ms of every run, reload and check
    return Draft202012Validator(root, registry=registry)


@cache
def schema_namespaces() -> frozenset[str]:
    """The ``extra_config`` namespaces that have a schema file (``backend/lambda``, ``modifier/lua-proxy``...)."""
    stems = (rel.removesuffix(".json") for rel, _ in _schema_files())
    return frozenset(stem for stem in stems if stem not in _NOT_NAMESPACES)


def json_path(parts: Iterable[str | int]) -> str:
    """``["endpoints", 3, "backend", 0, "host"]`` -> ``endpoints[3].backend[0].host`` (an empty key: ``""``)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = key_path(out, part)
    return out


def _namespace(parts: Sequence[str | int]) -> str | None:
    """The ``extra_config`` namespace an error sits in, if any."""
    for i, part in enumerate(parts[:-1]):
        if part == "extra_config":
            nxt = parts[i + 1]
            return nxt if isinstance(nxt, str) else None
    return None


def _unexpected_keys(error: ValidationError) -> list[tuple[str, str | None]]:
    """Each unknown key with the closest known one (or ``None``)."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    out: list[tuple[str, str | None]] = []
    for key in instance:
        if key in known or any(p.search(key) for p in patterns):
            continue
        close = close_matches(str(key), known, n=1, cutoff=0.75)
        out.append((str(key), close[0] if close else None))
    return out


def _message(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    custom = schema.get("x-message")
    if isinstance(custom, str):
        return custom.replace("{instance}", orjson.dumps(error.instance, default=repr).decode())
    if error.validator in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        return str(best_match(error.context).message)
    return str(error.message)


def _issues(error: ValidationError, *, lint: bool, catalog: Catalog) -> Iterator[ConfigIssue]:
    parts: list[str | int] = list(error.absolute_path)
    path = json_path(parts)
    namespace = _namespace(parts)
    implemented = namespace is not None and catalog.implements(namespace)
    if error.validator == "additionalProperties":
        severity: Literal["error", "warning"] = "error" if lint or namespace in catalog.strict else "warning"
        for key, close in _unexpected_keys(error):
            hint = f" (did you mean {close!r}?)" if close else ""
            message = f"unknown key{hint}" if severity == "error" else f"unknown key{hint}: ignored"
            yield ConfigIssue(key_path(path, key), message, severity)
        return
    if not lint and not implemented:
        if error.validator == "enum":
            if namespace is None and isinstance(error.instance, list | dict) and _strings(error.validator_value):
                # a list or an object in a core string field (output_encoding, encoding, sd, method):
                # KrakenD's decoder cannot read it as a string, and KrakenD does not start (an enum
                # of numbers, tls.curve_preferences' items, has its type error said already)
                kind = "a list" if isinstance(error.instance, list) else "an object"
                yield ConfigIssue(path, f"{kind}, not a string: {_message(error)}")
            return  # KrakenD falls back to its default for a value it does not know
        if error.validator == "required" and _BACKEND_PATH.match(path) and "'url_pattern'" in error.message:
            return  # lura defaults a missing url_pattern to ""
    yield ConfigIssue(path, _valueless(error, _message(error), parts))


def _strings(values: object) -> bool:
    """Whether an ``enum``'s values are all strings (the field is a string)."""
    return isinstance(values, list) and all(isinstance(value, str) for value in values)


def _valueless(error: ValidationError, message: str, parts: Sequence[str | int]) -> str:
    """``message`` without the value it quotes when the value sits at or under a key that names a
    secret (``…client_secret: 12121212 is not of type 'string'``, ``…auth/basic.users.ada``)."""
    names = [p.lower().replace("_", "").replace("-", "") for p in parts if isinstance(p, str) and "/" not in p]
    if not names or (_SECRET_KEY.search(names[-1]) is None and _SECRET_HOLDERS.isdisjoint(names)):
        return message
    instance = error.instance
    shown = {repr(instance), orjson.dumps(instance, default=repr).decode()}
    for text in sorted(shown, key=len, reverse=True):
        message = message.replace(text, "(value redacted)")
    return message


def validate_document(doc: object, *, lint: bool, catalog: Catalog) -> list[ConfigIssue]:
    """Every schema problem of ``doc``, each located by its JSON path (the root is "")."""
    from krakenpy.config.quickcheck import quick_valid

    if quick_valid(doc):  # in a child process under ``krakenpy run`` (P7 idle memory)
        return []
    issues: list[ConfigIssue] = []
    for error in _validator().iter_errors(doc):
        issues.extend(_issues(error, lint=lint, catalog=catalog))
    return issues
