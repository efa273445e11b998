"""Read a configuration file into a plain document (JSON by default, YAML/TOML by extension)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

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


#: a fraction of a second (Python writes microseconds, ``.500000``: Go drops the trailing zeros)
_FRACTION: Final = re.compile(r"\.[0-9]+")


def _go_fraction(match: re.Match[str]) -> str:
    return match.group().rstrip("0").rstrip(".")


def _dates_as_text(doc: dict[str, Any]) -> None:
    """TOML's dates and times become the RFC 3339 text Go's JSON writes for them (``...Z`` in UTC, a
    fraction of a second without its trailing zeros: ``00.5Z``), one value whatever reads it (a Lua
    script saw Python's ``1979-05-27 07:32:00+00:00``)."""
    stack: list[Any] = [doc]
    while stack:
        value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, dict | list):
                stack.append(item)
            elif isinstance(item, datetime | date | time):
                text = _FRACTION.sub(_go_fraction, item.isoformat())
                value[key] = text[:-6] + "Z" if text.endswith("+00:00") else text


def _read_yaml(data: bytes, p: Path) -> object:
    import yaml  # here: JSON configs never load the YAML parser (~15 ms of start-up)

    try:
        return yaml.load(data, Loader=_json_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}", str(p)) from None


_LOADER: list[type[Any]] = []

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + name for name in ("str", "null", "bool", "int", "float"))
#: YAML 1.2's core words, spelled as yaml.v3 spells them (``yes``, ``on``, ``No`` are strings)
_WORDS: Final[dict[str, tuple[str, object]]] = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (_NULL, None)),
    **dict.fromkeys(("true", "True", "TRUE"), (_BOOL, True)),
    **dict.fromkeys(("false", "False", "FALSE"), (_BOOL, False)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (_FLOAT, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (_FLOAT, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (_FLOAT, -math.inf)),
    "<<": (_TAG + "merge", "<<"),
}
#: an integer as Go's ``strconv.ParseInt(s, 0, 64)`` reads it: 0x, 0o, 0b prefixes, a leading 0 is octal
_GO_INT: Final = re.compile(r"([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))")
_GO_INT_BASES: Final = (16, 8, 2, 8, 10)
#: yaml.v3's decimal float (after its underscores are removed): no base-60, no ``.5.``
_YAML_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
#: a plain scalar starting with "." that Go's ``strconv.ParseFloat`` reads (underscores between digits)
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")


def _go_int(plain: str) -> int | None:
    """``strconv.ParseInt(plain, 0, 64)``, then ``ParseUint`` for what is above int64 (no sign)."""
    match = _GO_INT.fullmatch(plain)
    if match is None:
        return None
    index, digits = next((i, text) for i, text in enumerate(match.groups()[1:]) if text is not None)
    magnitude = int(digits, _GO_INT_BASES[index])
    sign = match.group(1)
    value = -magnitude if sign == "-" else magnitude
    if -(2**63) <= value < 2**63 or (not sign and value < 2**64):
        return value
    return None


def _core_scalar(text: str) -> tuple[str, object]:
    """A plain (unquoted) scalar's tag and value as yaml.v3 resolves it: YAML 1.2's core schema (booleans
    only ``true``/``false`` in three spellings, no base-60, ``0o17`` is 15, ``1e3`` a number) and
    its 1.1 octals (``017``); anything else, a timestamp included, is a string."""
    word = _WORDS.get(text)
    if word is not None:
        return word
    first = text[:1]
    if first == ".":
        if _DOT_FLOAT.fullmatch(text):
            number = float(text.replace("_", ""))
            if not math.isinf(number):  # Go's ParseFloat refuses an overflow: the text stays a string
                return _FLOAT, number
    elif first in "+-0123456789" and first:
        plain = text.replace("_", "")
        integer = _go_int(plain)
        if integer is not None:
            return _INT, integer
        if _YAML_FLOAT.fullmatch(plain):
            number = float(plain)
            if not math.isinf(number):
                return _FLOAT, number
    return _STR, text


def _json_loader() -> type[Any]:
    """PyYAML's safe loader reading only JSON's types, as Go's yaml.v3 does into ``interface{}``: plain
    scalars resolve as :func:`_core_scalar` (YAML 1.2's core schema, not PyYAML's 1.1 one: ``on``,
    ``no``, ``12:30`` are strings), an unquoted date stays a string (``2001-01-01``, not a ``date``),
    ``!!binary`` is its decoded text, ``!!set`` a mapping of nulls and ``!!omap``/``!!pairs`` the
    sequence of one-key mappings they are written as. Values of other types passed ``check`` and then
    failed every request that rendered them (``Type is not JSON serializable: bytes``)."""
    if _LOADER:
        return _LOADER[0]
    import base64

    import yaml

    timestamp, binary, yaml_set = (_TAG + name for name in ("timestamp", "binary", "set"))

    class JsonLoader(yaml.SafeLoader):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0]:
                return _core_scalar(value)[0]
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return str(loader.construct_scalar(node))  # type: ignore[arg-type]  # a scalar node

    def core(loader: yaml.SafeLoader, node: yaml.Node) -> object:
        """A null, boolean or number, implicit or tagged: ``!!bool yes`` is an error, as in yaml.v3."""
        tag, value = _core_scalar(text(loader, node))
        if tag == node.tag:
            return value
        if tag == _INT and node.tag == _FLOAT:
            return float(value)  # type: ignore[arg-type]  # an int
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {node.value!r} as !!{node.tag.removeprefix(_TAG)}", node.start_mark
        )

    def decoded(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        try:
            raw = base64.b64decode(text(loader, node).encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"bad !!binary: {exc}", node.start_mark) from None
        return raw.decode("utf-8", "replace")

    for tag in (_NULL, _BOOL, _INT, _FLOAT):
        JsonLoader.add_constructor(tag, core)
    JsonLoader.add_constructor(timestamp, text)
    JsonLoader.add_constructor(binary, decoded)

    def mapping(loader: yaml.SafeLoader, node: yaml.Node) -> Iterator[dict[Any, Any]]:
        yield from loader.construct_yaml_map(node)

    def pairs(loader: yaml.SafeLoader, node: yaml.Node) -> Iterator[object]:
        """``!!omap``/``!!pairs``: what yaml.v3 reads, the sequence itself (PyYAML's list of tuples was
        neither walked by the key check nor by the bounds check)."""
        if isinstance(node, yaml.SequenceNode):
            yield from loader.construct_yaml_seq(node)
        else:
            yield from loader.construct_yaml_map(node)

    JsonLoader.add_constructor(yaml_set, mapping)
    JsonLoader.add_constructor(_TAG + "omap", pairs)
    JsonLoader.add_constructor(_TAG + "pairs", pairs)
    _LOADER.append(JsonLoader)
    return JsonLoader


def _convert(current: object, text: str) -> object:
    """``text`` as the weak decoding reads it into the replaced key's type, with Go's ``strconv`` as the
    file's strings are (:mod:`krakenpy.config.coerce`): ``017`` is 15, ``" 9000"`` and ``yes`` are no
    integer and no boolean, left as text for the schema to refuse at the key (naming the variable)."""
    from krakenpy.config.coerce import go_bool, go_int

    if isinstance(current, bool):
        return go_bool(text)
    if isinstance(current, int):
        return go_int(text)
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
