"""Read a configuration file into a plain document (JSON by default, YAML/TOML by extension)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import orjson

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["apply_env_overrides", "read_document"]

_ENV_PREFIX = "KRAKEND_"
#: YAML aliases share one object among many places: what the rest of krakenpy walks (schema,
#: static data copied per request...) is the *expanded* document, so its size and depth are capped
#: (a "billion laughs" alias bomb, a cyclic alias, 100,000 nested brackets)
MAX_NODES = 1_000_000
MAX_DEPTH = 256


def _check_bounds(doc: object, source: str) -> None:
    """Walk the expanded document without recursion; too many nodes or levels is a config error."""
    stack: list[tuple[object, int]] = [(doc, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(
                f"{source}: the configuration expands to more than {MAX_NODES} values (alias bomb?)", source
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: values nested more than {MAX_DEPTH} levels deep (or a cyclic alias)", source)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse the file; any read or syntax error becomes a :class:`ConfigError` with line and column."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}", str(p)) from None
    suffix = p.suffix.lower()
    doc: object
    try:
        if suffix in (".yml", ".yaml"):
            doc = _read_yaml(data, p)
        elif suffix == ".toml":
            doc = _read_toml(data, p)
        else:
            doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            [ConfigIssue("", f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")],
            str(p),
        ) from None
    except RecursionError:
        raise ConfigError(f"{p}: values nested too deeply to read", str(p)) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: the configuration must be an object", str(p))
    _check_bounds(doc, str(p))
    if suffix in (".yml", ".yaml"):
        _check_keys(doc, str(p))
    return doc


def _check_keys(doc: dict[Any, Any], source: str) -> None:
    """YAML keys may be numbers, booleans or null (``1: x``); a configuration's are names, as
    JSON's always are: any other key is an error at its path (after :func:`_check_bounds`)."""
    issues: list[ConfigIssue] = []
    stack: list[tuple[object, str]] = [(doc, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    issues.append(ConfigIssue(path, f"the key {_yaml_key(key)} is not a string: quote it in YAML"))
                    continue
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    if issues:
        raise ConfigError(sorted(issues, key=lambda issue: issue.path), source)


def _yaml_key(key: object) -> str:
    """A key as the YAML file spells it, and what YAML read it as."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return f"{str(key).lower()} (a boolean)"
    if isinstance(key, int | float):
        return f"{key} (a number)"
    return f"{key!r} (a {type(key).__name__})"  # a sequence key (a tuple): YAML's "? [a, b]"


def _read_toml(data: bytes, p: Path) -> object:
    import tomllib  # here, as YAML's parser: a JSON config does not compile its regular expressions

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}", str(p)) from None
    _dates_as_text(doc)
    return doc


def _dates_as_text(doc: dict[str, Any]) -> None:
    """TOML's dates and times become the RFC 3339 text Go's JSON writes for them (``...Z`` in UTC),
    one value whatever reads it (a Lua script saw Python's ``1979-05-27 07:32:00+00:00``)."""
    stack: list[Any] = [doc]
    while stack:
        value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, dict | list):
                stack.append(item)
            elif isinstance(item, datetime | date | time):
                text = item.isoformat()
                value[key] = text[:-6] + "Z" if text.endswith("+00:00") else text


def _read_yaml(data: bytes, p: Path) -> object:
    import yaml  # here: JSON configs never load the YAML parser (~15 ms of start-up)

    try:
        return yaml.load(data, Loader=_json_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}", str(p)) from None


_LOADER: list[type[Any]] = []


def _json_loader() -> type[Any]:
    """PyYAML's safe loader reading only JSON's types, as Go's yaml.v3 does into ``interface{}``: an
    unquoted date stays a string (``2001-01-01``, not a ``date``), ``!!binary`` is its decoded text and
    ``!!set`` a mapping of nulls. Values of other types passed ``check`` and then failed every request
    that rendered them (``Type is not JSON serializable: bytes``)."""
    if _LOADER:
        return _LOADER[0]
    import base64

    import yaml

    timestamp, binary, yaml_set = ("tag:yaml.org,2002:" + name for name in ("timestamp", "binary", "set"))

    class JsonLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, pattern) for tag, pattern in resolvers if tag != timestamp]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    def text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return str(loader.construct_scalar(node))  # type: ignore[arg-type]  # a scalar node

    def decoded(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        try:
            raw = base64.b64decode(text(loader, node).encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"bad !!binary: {exc}", node.start_mark) from None
        return raw.decode("utf-8", "replace")

    JsonLoader.add_constructor(timestamp, text)
    JsonLoader.add_constructor(binary, decoded)

    def mapping(loader: yaml.SafeLoader, node: yaml.Node) -> Iterator[dict[Any, Any]]:
        yield from loader.construct_yaml_map(node)

    JsonLoader.add_constructor(yaml_set, mapping)
    _LOADER.append(JsonLoader)
    return JsonLoader


def _convert(current: object, text: str) -> object:
    if isinstance(current, bool):
        return text.strip().lower() in ("1", "true", "t", "yes")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            return text
    return text


def apply_env_overrides(doc: dict[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """KrakenD's ``KRAKEND_<NAME>`` overrides: each sets top-level key ``<name>`` (lower-cased).

    Values are converted to the type of the key they replace (int/bool), as koanf's weak decoding does.
    Returns key → variable name for every key overridden (errors at those keys name the variable).
    """
    env = os.environ if environ is None else environ
    changed: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(_ENV_PREFIX) or len(name) == len(_ENV_PREFIX):
            continue
        key = name[len(_ENV_PREFIX) :].lower()
        if key in ("endpoints", "extra_config", "async_agent"):
            continue
        doc[key] = _convert(doc.get(key, 0 if key == "port" else ""), value)
        changed[key] = name
    return changed
